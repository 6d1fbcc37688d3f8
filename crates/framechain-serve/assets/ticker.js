// A steady clock for the test pattern. Timers in a page are throttled to
// about once a second when its tab is in the background (the person
// switched to the watch tab); timers in a worker are not.
let timer = null;
onmessage = (event) => {
  clearInterval(timer);
  timer = event.data > 0 ? setInterval(() => postMessage(0), event.data) : null;
};
