#ifndef CWM_CSYSTEM_H
#define CWM_CSYSTEM_H

// System calls that Swift cannot reach through Glibc: prctl is variadic
// and its header is not part of the Glibc module.

#include <sys/prctl.h>

/// prctl(PR_SET_DUMPABLE, value): 0 means no core file and no ptrace or
/// /proc/PID/mem access by other processes of the same user.
static inline int cwm_set_dumpable(int value) {
  return prctl(PR_SET_DUMPABLE, (unsigned long)value, 0UL, 0UL, 0UL);
}

/// prctl(PR_GET_DUMPABLE).
static inline int cwm_get_dumpable(void) {
  return prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
}

#endif
