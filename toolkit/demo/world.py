"""The demo's synthetic world: objects with a colour, a shape, a texture, a size and a position,
drawn on a canvas and described in words.

Two kinds of pictures come from it:

- pretraining pairs: an object on a light, plain background with a caption that names some of
  its attributes in one of several sentence forms ("a photo of a small red striped circle on
  the left.", "a blue square.", "a dotted star at the top."), so that the demo's CLIP learns
  the words and how they combine;
- the downstream task's photos, which are shifted from the pretraining pictures: a darker,
  noisy background, a colour cast over the whole picture and a slight blur. Its classes are
  colour-shape pairs ("red circle"); texture, size and position vary within a class.

Everything is drawn with Pillow from a seeded ``random.Random``, so a seed fixes every picture.
"""
import os
import random
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from testing.shapes import draw_shape

COLOURS: Dict[str, Tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (40, 165, 55),
    "blue": (40, 75, 215),
    "yellow": (235, 205, 30),
    "purple": (135, 50, 185),
    "orange": (245, 135, 20),
    "pink": (245, 125, 190),
    "brown": (120, 70, 35),
}
SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross", "ring")
TEXTURES = ("plain", "striped", "dotted", "checkered")
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom", "center")
POSITION_PHRASES = {
    "left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
    "center": "in the center",
}
CAPTION_FORMS = ("a photo of a {}.", "a {}.", "a picture of a {}.", "a drawing of a {}.", "there is a {}.")

# The downstream task: 12 colour-shape classes, base = the first half, new = the second half
# (CoOp's base/new cut). Every colour and shape word of the new classes also names a base class,
# in another pair.
CLASSNAMES = (
    "red circle", "green square", "blue triangle", "yellow star", "purple diamond", "orange cross",
    "red square", "green triangle", "blue star", "yellow diamond", "purple cross", "orange circle",
)


@dataclass(frozen=True)
class Thing:
    """One object of the world."""

    colour: str
    shape: str
    texture: str
    size: str
    position: str

    def caption(self, rng: random.Random) -> str:
        """A sentence naming the shape and, each at random, the other attributes."""
        words = [self.size] if rng.random() < 0.5 else []
        words += [self.colour] if rng.random() < 0.8 else []
        words += [self.texture] if self.texture != "plain" and rng.random() < 0.5 else []
        phrase = " ".join(words + [self.shape])
        if rng.random() < 0.4:
            phrase += " " + POSITION_PHRASES[self.position]
        return rng.choice(CAPTION_FORMS).format(phrase)


def random_thing(rng: random.Random, colour: str = "", shape: str = "") -> Thing:
    """A thing with the given colour and shape (random where not given) and random other attributes."""
    return Thing(colour or rng.choice(list(COLOURS)), shape or rng.choice(SHAPES), rng.choice(TEXTURES),
                 rng.choice(SIZES), rng.choice(POSITIONS))


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------
def jitter(colour: Sequence[int], amount: int, rng: random.Random) -> Tuple[int, ...]:
    return tuple(min(255, max(0, c + rng.randint(-amount, amount))) for c in colour)


def texture_fill(size: int, colour: Tuple[int, ...], texture: str, rng: random.Random) -> Image.Image:
    """A ``size`` x ``size`` patch of ``colour`` with the texture's pattern in white."""
    patch = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(patch)
    period = rng.randint(5, 7)
    offset = rng.randrange(period)
    if texture == "striped":
        for x in range(-size + offset, size, period):
            draw.line([(x, 0), (x + size, size)], fill=(255, 255, 255), width=2)
    elif texture == "dotted":
        for y in range(offset, size, period):
            for x in range(offset, size, period):
                draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=(255, 255, 255))
    elif texture == "checkered":
        for y in range(0, size, period):
            for x in range(0, size, period):
                if (x // period + y // period) % 2:
                    draw.rectangle((x, y, x + period - 1, y + period - 1), fill=(255, 255, 255))
    elif texture != "plain":
        raise ValueError(f"unknown texture {texture!r}")
    return patch


def object_centre(position: str, half: int, canvas: int, rng: random.Random) -> Tuple[int, int]:
    """A centre in the part of the canvas that ``position`` names, keeping the object inside."""
    low, high = half + 1, canvas - half - 2
    third = (high - low) / 3
    spans = {"left": (low, low + third), "right": (high - third, high), "top": (low, low + third),
             "bottom": (high - third, high), "center": (low + third, high - third)}
    along = rng.uniform(*spans[position])
    across = rng.uniform(low + third, high - third)
    x, y = (along, across) if position in ("left", "right") else (across, along)
    return int(round(x)), int(round(y))


def draw_thing(image: Image.Image, thing: Thing, rng: random.Random, colour_jitter: int = 20) -> None:
    """Draw ``thing`` onto ``image`` where its position says."""
    canvas = image.size[0]
    fraction = rng.uniform(0.13, 0.18) if thing.size == "small" else rng.uniform(0.27, 0.34)
    half = max(3, int(fraction * canvas))
    side = 2 * half + 3
    mask = Image.new("L", (side, side), 0)
    draw_shape(mask, thing.shape, 255, half, rng)  # on a canvas its own size: centred
    patch = texture_fill(side, jitter(COLOURS[thing.colour], colour_jitter, rng), thing.texture, rng)
    cx, cy = object_centre(thing.position, half, canvas, rng)
    image.paste(patch, (cx - half - 1, cy - half - 1), mask)


def pretraining_picture(thing: Thing, size: int, rng: random.Random) -> Image.Image:
    """A pretraining picture: ``thing`` on a light, plain background."""
    image = Image.new("RGB", (size, size), jitter((232, 232, 232), 18, rng))
    draw_thing(image, thing, rng)
    return image


def gaussian_noise(size: int, sigma: float, rng: random.Random) -> Image.Image:
    """Grey Gaussian noise around 128 drawn from ``rng`` (Pillow's ``effect_noise`` has its own,
    unseeded generator: the photos would differ from run to run)."""
    values = np.random.default_rng(rng.getrandbits(32)).normal(128, sigma, (size, size))
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")


def downstream_picture(thing: Thing, size: int, rng: random.Random) -> Image.Image:
    """A downstream photo: darker noisy background, a colour cast and a slight blur."""
    base = jitter((120, 120, 120), 40, rng)
    noise = gaussian_noise(size, rng.uniform(20, 40), rng).convert("RGB")
    image = Image.blend(Image.new("RGB", (size, size), base), noise, 0.3)
    draw_thing(image, thing, rng, colour_jitter=30)
    cast = Image.new("RGB", (size, size), tuple(rng.randint(0, 255) for _ in range(3)))
    image = Image.blend(image, cast, rng.uniform(0.1, 0.25))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))


# ---------------------------------------------------------------------------------------------
# The downstream dataset
# ---------------------------------------------------------------------------------------------
def dataset_folder(root: str, size: int) -> str:
    """Where the downstream dataset of ``size``-pixel photos lives under ``root``."""
    return os.path.join(root, f"shapes_{size}px")


def write_downstream_dataset(root: str, images_per_split: Dict[str, int], size: int, seed: int = 0) -> str:
    """The task in the custom-dataset layout (images, labels.csv, classnames.txt) and its config
    file; returns the config path. Written once; reused when present."""
    dataset_dir = dataset_folder(root, size)
    config_path = dataset_dir + ".yaml"
    if os.path.exists(config_path):
        return config_path
    rng = random.Random(seed)
    rows: List[str] = []
    for label, classname in enumerate(CLASSNAMES):
        colour, shape = classname.split(" ")
        folder = os.path.join(dataset_dir, "images", classname.replace(" ", "_"))
        os.makedirs(folder, exist_ok=True)
        for split, count in images_per_split.items():
            for i in range(count):
                name = f"{split}_{i:02d}.png"
                downstream_picture(random_thing(rng, colour, shape), size, rng).save(os.path.join(folder, name))
                rows.append(f"{os.path.basename(folder)}/{name},{label},{split}")
    with open(os.path.join(dataset_dir, "labels.csv"), "w") as f:
        f.write("path,label,split\n" + "\n".join(rows) + "\n")
    with open(os.path.join(dataset_dir, "classnames.txt"), "w") as f:
        f.write("\n".join(CLASSNAMES) + "\n")
    with open(config_path + ".tmp", "w") as f:
        f.write(
            "# The demo's downstream task: colour-shape pairs on shifted photos (toolkit/demo/world.py).\n"
            "DATASET:\n"
            '  NAME: "CustomDataset"\n'
            "  CUSTOM:\n"
            f'    DATASET_DIR: "{os.path.basename(dataset_dir)}"\n'
            '    CSV: "labels.csv"\n'
            '    CLASSNAMES: "classnames.txt"\n'
        )
    os.replace(config_path + ".tmp", config_path)  # last: a dataset cut short is written again
    return config_path
