from .tools import *
from .registry import Registry
