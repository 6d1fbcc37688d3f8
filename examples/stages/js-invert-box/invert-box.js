// The `js-invert-box` stage: inverts the luma samples (255 - Y) of one
// rectangle of each I420 frame and passes the frame on.
//
// The JavaScript twin of examples/stages/framechain-invert-box (Rust) and
// examples/stages/python-invert-box (Python): the same work, so the three can be
// timed side by side (scripts/language-cost.sh,
// docs/authoring-languages.md). Built with componentize-js by
// scripts/build-language-stages.sh.
//
// How jco maps the contract (wit/stage.wit): the exported interface
// `stage` is the exported object `stage`, the resource `processor` its
// class `Processor`; `result` errors are thrown (the thrown value is the
// error), an imported function's error arrives as a thrown error with the
// value in `.payload`; variants are `{ tag, val }`, enums lower-case
// strings, `list<u8>` a Uint8Array and `s64` a BigInt.
//
// Parameters:
//   rect  x,y,width,height in pixels (required); clipped to the frame, a box
//         wholly outside it is skipped.

import { log } from "framechain:stage/log@0.2.0";

const STAGE_NAME = "js-invert-box";
const VERSION = "0.1.0";

function badParameter(name, problem) {
  return { tag: "bad-parameter", val: `${STAGE_NAME}: ${name}: ${problem}` };
}

// `x,y,width,height` as a rect, with the same wording as the Rust SDK.
function parseRect(text) {
  const expected = `expected x,y,width,height (four whole numbers), got "${text}"`;
  const parts = text.split(",").map((part) => part.trim());
  if (parts.length !== 4 || !parts.every((part) => /^[0-9]{1,10}$/.test(part))) {
    throw badParameter("rect", expected);
  }
  const [x, y, width, height] = parts.map(Number);
  if (Math.max(x, y, width, height) > 0xffffffff) {
    throw badParameter("rect", expected);
  }
  if (width === 0 || height === 0) {
    throw badParameter("rect", `width and height must be at least 1, got "${text}"`);
  }
  return { x, y, width, height };
}

// The part of `rect` inside the frame, or null.
function clip(rect, width, height) {
  const xEnd = Math.min(rect.x + rect.width, width);
  const yEnd = Math.min(rect.y + rect.height, height);
  if (rect.x >= xEnd || rect.y >= yEnd) {
    return null;
  }
  return { x: rect.x, y: rect.y, width: xEnd - rect.x, height: yEnd - rect.y };
}

class Processor {
  constructor(rect) {
    this.rect = rect;
    this.warnedOutside = false;
  }

  static create(params) {
    const values = new Map(params);
    if (!values.has("rect")) {
      throw badParameter("rect", "required, e.g. rect=0,0,64,64");
    }
    return new Processor(parseRect(values.get("rect")));
  }

  push(input) {
    if (input.tag !== "frame") {
      throw { tag: "unsupported-input", val: `${STAGE_NAME}: takes frames, got a packet` };
    }
    const frame = input.val;
    const info = frame.info();
    const area = clip(this.rect, info.width, info.height);
    if (area === null) {
      if (!this.warnedOutside) {
        // Once per session, not 30 times a second.
        this.warnedOutside = true;
        log(
          "warn",
          `${STAGE_NAME}: the box lies wholly outside the ${info.width}x${info.height} frame; passing frames on unchanged`,
        );
      }
      return { media: [input], dropped: [], notices: [] };
    }
    try {
      const samples = frame.readRect("y", area);
      for (let i = 0; i < samples.length; i++) {
        samples[i] = 255 - samples[i];
      }
      frame.writeRect("y", area, samples);
    } catch (error) {
      // The box was clipped to the frame, so a refusal means the host and
      // the stage disagree about the frame.
      const reason = error && error.payload !== undefined ? error.payload : String(error);
      throw { tag: "internal", val: `${STAGE_NAME}: frame access refused: ${reason}` };
    }
    return { media: [input], dropped: [], notices: [] };
  }

  flush() {
    return { media: [], dropped: [], notices: [] };
  }

  // No use for keyframe requests or bitrates: ignoring them is not an error.
  control(_event) {}
}

export const stage = {
  describe() {
    return {
      name: STAGE_NAME,
      version: VERSION,
      summary: "Inverts the luma of one rectangle of each frame (a stage written in JavaScript).",
      input: { tag: "frames", val: ["i420"] },
      output: { tag: "frames", val: ["i420"] },
      params: [
        {
          name: "rect",
          kind: "rect",
          choices: [],
          default: undefined,
          required: true,
          help: "The box to invert, x,y,width,height in pixels; clipped to the frame.",
        },
      ],
    };
  },
  Processor,
};
