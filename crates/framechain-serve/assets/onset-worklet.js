// The click detector of sync.js, run on the audio rendering thread: posts
// the context time of each onset, the first sample above THRESHOLD after at
// least QUIET_SECONDS below it. Sample-accurate, unlike polling an analyser.
const THRESHOLD = 0.2;
const QUIET_SECONDS = 0.3;

class OnsetDetector extends AudioWorkletProcessor {
  constructor() {
    super();
    this.quietSince = 0;
  }

  process(inputs, outputs) {
    const input = inputs[0] && inputs[0][0];
    if (input) {
      for (let i = 0; i < input.length; i++) {
        const time = currentTime + i / sampleRate;
        if (Math.abs(input[i]) > THRESHOLD) {
          if (time - this.quietSince >= QUIET_SECONDS) this.port.postMessage({ time });
          this.quietSince = time;
        }
      }
    }
    // Pass nothing on: the node only listens.
    if (outputs[0] && outputs[0][0]) outputs[0][0].fill(0);
    return true;
  }
}

registerProcessor('onset-detector', OnsetDetector);
