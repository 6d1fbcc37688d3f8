/* sys/sysctl.h for wasm32-wasi (written for framechain, not from any libc).
 *
 * WASI has no sysctl. OpenH264 only asks it for the number of logical CPUs
 * (WelsQueryLogicalProcessInfo); failing makes it assume one CPU, which is
 * the truth inside a single-threaded wasm instance. */
#ifndef FRAMECHAIN_WASI_SYS_SYSCTL_H
#define FRAMECHAIN_WASI_SYS_SYSCTL_H

#include <errno.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline int sysctlbyname(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen) {
  (void)name; (void)oldp; (void)oldlenp; (void)newp; (void)newlen;
  errno = ENOSYS;
  return -1;
}

static inline int sysctl(const int* name, unsigned namelen, void* oldp, size_t* oldlenp, void* newp, size_t newlen) {
  (void)name; (void)namelen; (void)oldp; (void)oldlenp; (void)newp; (void)newlen;
  errno = ENOSYS;
  return -1;
}

#ifdef __cplusplus
}
#endif

#endif
