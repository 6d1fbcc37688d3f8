"""The `python-invert-box` stage: inverts the luma samples (255 - Y) of one
rectangle of each I420 frame and passes the frame on.

The Python twin of `examples/stages/framechain-invert-box` (Rust) and
`examples/stages/js-invert-box` (JavaScript): the same work, so the three can be
timed side by side (scripts/language-cost.sh, docs/authoring-languages.md).

componentize-py looks up the exported interface `stage` as the class
`Stage` of the app module and the resource `processor` as the class
`Processor` of a module named after the interface, `stage`: this file is
both. Build it with scripts/build-language-stages.sh.

Parameters:
  rect    x,y,width,height in pixels (required); clipped to the frame, a
          box wholly outside it is skipped.
  method  `table` (default): one bytes.translate call, which runs in C;
          `loop`: a Python loop over every sample, to measure what
          per-pixel Python costs (docs/authoring-languages.md).
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import stage as stage_exports
from wit_world.imports import log
from wit_world.imports.types import (
    Media_Frame,
    Output,
    ParamKind,
    ParamSpec,
    PixelFormat,
    Plane,
    Port_Frames,
    Rect,
    StageDescription,
    StageError_BadParameter,
    StageError_Internal,
    StageError_UnsupportedInput,
)

STAGE_NAME = "python-invert-box"
VERSION = "0.1.0"
METHODS = ["table", "loop"]

# 255 - v for every byte value: bytes.translate applies it in C.
INVERT = bytes(255 - v for v in range(256))


def bad_parameter(name, problem):
    return Err(StageError_BadParameter(f"{STAGE_NAME}: {name}: {problem}"))


def parse_rect(text):
    """`x,y,width,height` as a Rect, or raises a bad-parameter error with
    the same wording as the Rust stages' SDK."""
    expected = f'expected x,y,width,height (four whole numbers), got "{text}"'
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4 or not all(part.isdigit() and part.isascii() for part in parts):
        raise bad_parameter("rect", expected)
    x, y, width, height = (int(part) for part in parts)
    if max(x, y, width, height) > 0xFFFFFFFF:
        raise bad_parameter("rect", expected)
    if width == 0 or height == 0:
        raise bad_parameter("rect", f'width and height must be at least 1, got "{text}"')
    return Rect(x=x, y=y, width=width, height=height)


def clip(rect, width, height):
    """The part of `rect` inside the frame, or None."""
    x_end = min(rect.x + rect.width, width)
    y_end = min(rect.y + rect.height, height)
    if rect.x >= x_end or rect.y >= y_end:
        return None
    return Rect(x=rect.x, y=rect.y, width=x_end - rect.x, height=y_end - rect.y)


def invert_loop(samples):
    """The per-sample way: what a first Python version tends to look like."""
    out = bytearray(samples)
    for i in range(len(out)):
        out[i] = 255 - out[i]
    return bytes(out)


class Stage(exports.Stage):
    def describe(self):
        return StageDescription(
            name=STAGE_NAME,
            version=VERSION,
            summary="Inverts the luma of one rectangle of each frame (a stage written in Python).",
            input=Port_Frames([PixelFormat.I420]),
            output=Port_Frames([PixelFormat.I420]),
            params=[
                ParamSpec(
                    name="rect",
                    kind=ParamKind.RECT,
                    choices=[],
                    default=None,
                    required=True,
                    help="The box to invert, x,y,width,height in pixels; clipped to the frame.",
                ),
                ParamSpec(
                    name="method",
                    kind=ParamKind.CHOICE,
                    choices=METHODS,
                    default="table",
                    required=False,
                    help="table: one bytes.translate call (fast); loop: a Python loop per sample (slow, for comparison).",
                ),
            ],
        )


class Processor(stage_exports.Processor):
    def __init__(self, rect, method):
        self.rect = rect
        self.warned_outside = False
        self.invert = invert_loop if method == "loop" else (lambda data: data.translate(INVERT))

    @classmethod
    def create(cls, params):
        values = dict(params)
        if "rect" not in values:
            raise bad_parameter("rect", "required, e.g. rect=0,0,64,64")
        method = values.get("method", "table")
        if method not in METHODS:
            raise bad_parameter("method", f'expected one of {", ".join(METHODS)}, got "{method}"')
        return cls(parse_rect(values["rect"]), method)

    def push(self, input):
        if not isinstance(input, Media_Frame):
            raise Err(StageError_UnsupportedInput(f"{STAGE_NAME}: takes frames, got a packet"))
        frame = input.value
        info = frame.info()
        area = clip(self.rect, info.width, info.height)
        if area is None and not self.warned_outside:
            # Once per session, not 30 times a second.
            self.warned_outside = True
            log.log(
                log.Level.WARN,
                f"{STAGE_NAME}: the box lies wholly outside the {info.width}x{info.height} frame; passing frames on unchanged",
            )
        if area is not None:
            try:
                samples = frame.read_rect(Plane.Y, area)
                frame.write_rect(Plane.Y, area, self.invert(samples))
            except Err as error:
                # The box was clipped to the frame, so a refusal means the
                # host and the stage disagree about the frame.
                raise Err(StageError_Internal(f"{STAGE_NAME}: frame access refused: {error.value}"))
        return Output(media=[input], dropped=[], notices=[])

    def flush(self):
        return Output(media=[], dropped=[], notices=[])

    def control(self, event):
        # No use for keyframe requests or bitrates: ignoring them is not an error.
        return None
