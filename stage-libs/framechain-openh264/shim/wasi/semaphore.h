/* semaphore.h for wasm32-wasi without threads (written for framechain).
 *
 * Single-threaded counting semaphores: post counts up, wait counts down and,
 * since no other thread could ever post, fails with EDEADLK instead of
 * blocking forever. Shadows wasi-libc's header, whose functions Rust's
 * bundled libc does not provide. */
#ifndef FRAMECHAIN_WASI_SEMAPHORE_H
#define FRAMECHAIN_WASI_SEMAPHORE_H

#include <errno.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct { int count; } sem_t;

#define SEM_FAILED ((sem_t*)0)

static inline int sem_init(sem_t* s, int pshared, unsigned value) {
  (void)pshared;
  s->count = (int)value;
  return 0;
}
static inline int sem_destroy(sem_t* s) { (void)s; return 0; }
static inline int sem_post(sem_t* s) { s->count++; return 0; }
static inline int sem_trywait(sem_t* s) {
  if (s->count > 0) { s->count--; return 0; }
  errno = EAGAIN;
  return -1;
}
static inline int sem_wait(sem_t* s) {
  if (s->count > 0) { s->count--; return 0; }
  errno = EDEADLK;
  return -1;
}
static inline int sem_timedwait(sem_t* s, const struct timespec* t) {
  (void)t;
  if (s->count > 0) { s->count--; return 0; }
  errno = ETIMEDOUT;
  return -1;
}
static inline int sem_getvalue(sem_t* s, int* value) { *value = s->count; return 0; }

#ifdef __cplusplus
}
#endif

#endif
