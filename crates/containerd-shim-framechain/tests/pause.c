/* The pod sandbox's "pause" process for the CRI test: holds the pod's
 * namespaces until it is told to stop. Built static by containerd.sh
 * (gcc -static) and packed into a local image by pause_image.py, because
 * this machine cannot pull registry.k8s.io/pause. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static void stop(int signal_number) {
  (void)signal_number;
  _exit(0);
}

int main(void) {
  /* As PID 1 of its namespace it gets no default signal handling. */
  signal(SIGTERM, stop);
  signal(SIGINT, stop);
  for (;;) {
    pause();
  }
}
