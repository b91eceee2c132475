"""The drawings of the fixture datasets: a colour and a shape per class, on a grey background.

Shared by the fixture writers and the demo's synthetic world (one shape drawer). Pillow only.
"""
import hashlib
import math
import os
import os.path as osp
import random
from typing import Tuple

from PIL import Image, ImageDraw

IMAGE_SIZE = 32

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (235, 200, 20),
    "magenta": (200, 40, 200),
    "cyan": (20, 200, 210),
    "orange": (240, 130, 20),
    "brown": (110, 60, 30),
}
SHAPES = ["circle", "square", "triangle", "cross", "diamond", "ring"]


def look_of(look: int) -> Tuple[str, str]:
    """(colour name, shape) of look number ``look``; looks 0..47 are all different."""
    colour = list(COLOURS)[look % len(COLOURS)]
    return colour, SHAPES[(look // len(COLOURS) + look) % len(SHAPES)]


def draw_shape(image: Image.Image, shape: str, colour: Tuple[int, int, int], half: int, rng: random.Random) -> None:
    """Draw ``shape`` (circle, square, triangle, cross, diamond, ring or star) of half-size
    ``half`` in ``colour`` at a random place of ``image``."""
    width, height = image.size
    cx, cy = rng.randint(half + 1, width - half - 2), rng.randint(half + 1, height - half - 2)
    box = (cx - half, cy - half, cx + half, cy + half)
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=colour)
    elif shape == "cross":
        bar = max(2, half // 3)
        draw.rectangle((cx - half, cy - bar, cx + half, cy + bar), fill=colour)
        draw.rectangle((cx - bar, cy - half, cx + bar, cy + half), fill=colour)
    elif shape == "diamond":
        draw.polygon([(cx, cy - half), (cx + half, cy), (cx, cy + half), (cx - half, cy)], fill=colour)
    elif shape == "ring":
        draw.ellipse(box, outline=colour, width=max(2, half // 3))
    elif shape == "star":  # outer and inner vertices alternate
        turn = rng.uniform(0, 2 * math.pi / 5)
        points = [
            (cx + r * math.cos(turn + k * math.pi / 5), cy + r * math.sin(turn + k * math.pi / 5))
            for k, r in enumerate([half, half * 0.45] * 5)
        ]
        draw.polygon(points, fill=colour)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def draw_image(path: str, look: int, name: str = "") -> None:
    """A small JPEG (or PNG, by extension) whose colour and shape are fixed by ``look``.

    Size, position and background vary with ``name`` (default: the path), so images of a class
    differ. Fixture datasets pass the path below the dataset's folder: the same dataset built in
    two folders (two tests, two runs of the suite) is then the same images, and so the same results.
    """
    rng = random.Random(hashlib.md5((name or path).encode()).hexdigest())
    shade = rng.randint(200, 245)
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (shade, shade, shade))
    colour_name, shape = look_of(look)
    draw_shape(image, shape, COLOURS[colour_name], rng.randint(8, 12), rng)
    os.makedirs(osp.dirname(path), exist_ok=True)
    image.save(path, quality=90)
