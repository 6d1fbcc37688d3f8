/* pthread.h for wasm32-wasi without threads (written for framechain).
 *
 * The wasm32-wasip2 component runs on one thread, and framechain configures
 * OpenH264 single-threaded, so its thread library only needs to compile and
 * to fail cleanly if it is ever asked for a thread. Everything is a static
 * inline stub here, so the behaviour does not depend on which wasi-libc
 * (Debian's headers vs. Rust's bundled libc.a) ends up linked: mutexes
 * always succeed (there is no other thread to contend with) and
 * pthread_create reports EAGAIN. The types come from wasi-libc's
 * <sys/types.h>, which already declares them. */
#ifndef FRAMECHAIN_WASI_PTHREAD_H
#define FRAMECHAIN_WASI_PTHREAD_H

#include <errno.h>
#include <sched.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PTHREAD_SCOPE_SYSTEM 0
#define PTHREAD_SCOPE_PROCESS 1
#ifndef SCHED_OTHER
#define SCHED_OTHER 0
#endif
#ifndef SCHED_FIFO
#define SCHED_FIFO 1
#endif

static inline int pthread_attr_init(pthread_attr_t* a) { (void)a; return 0; }
static inline int pthread_attr_destroy(pthread_attr_t* a) { (void)a; return 0; }
static inline int pthread_attr_setscope(pthread_attr_t* a, int s) { (void)a; (void)s; return 0; }
static inline int pthread_attr_setschedpolicy(pthread_attr_t* a, int p) { (void)a; (void)p; return 0; }

static inline int pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*f)(void*), void* arg) {
  (void)t; (void)a; (void)f; (void)arg;
  return EAGAIN;
}
static inline int pthread_join(pthread_t t, void** ret) { (void)t; (void)ret; return ESRCH; }
static inline pthread_t pthread_self(void) { return (pthread_t)0; }

static inline int pthread_mutex_init(pthread_mutex_t* m, const pthread_mutexattr_t* a) { (void)m; (void)a; return 0; }
static inline int pthread_mutex_destroy(pthread_mutex_t* m) { (void)m; return 0; }
static inline int pthread_mutex_lock(pthread_mutex_t* m) { (void)m; return 0; }
static inline int pthread_mutex_trylock(pthread_mutex_t* m) { (void)m; return 0; }
static inline int pthread_mutex_unlock(pthread_mutex_t* m) { (void)m; return 0; }

/* Waiting on a condition nobody else can signal would hang forever. */
static inline int pthread_cond_init(pthread_cond_t* c, const pthread_condattr_t* a) { (void)c; (void)a; return 0; }
static inline int pthread_cond_destroy(pthread_cond_t* c) { (void)c; return 0; }
static inline int pthread_cond_signal(pthread_cond_t* c) { (void)c; return 0; }
static inline int pthread_cond_broadcast(pthread_cond_t* c) { (void)c; return 0; }
static inline int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) { (void)c; (void)m; return EDEADLK; }
static inline int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* t) {
  (void)c; (void)m; (void)t;
  return ETIMEDOUT;
}

#ifdef __cplusplus
}
#endif

#endif
