/*
 * thread.c - what a thread says about itself to the system: its name (shown
 * by `top -H`, `ps -L`, perf and /proc/PID/task/TID/comm) and, for the
 * background threads whose work nothing waits for, a lower priority.  Linux
 * only; elsewhere both are no-ops (nice is per process there).
 */
#include "util/util.h"

#include <errno.h>
#include <string.h>

#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

void nt_thread_name(const char *name)
{
#if defined(__linux__)
    /* At most 15 bytes are kept; longer names are cut by the kernel. */
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
#else
    (void)name;
#endif
}

int nt_thread_nice(int nice)
{
#if defined(__linux__)
    /* Linux keeps a nice value per thread: only the calling thread moves, and the
     * threads it starts afterwards inherit it. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) != 0) {
        return nt_error_set(NT_EIO, "setpriority %d: %s", nice, strerror(errno));
    }
#else
    (void)nice;
#endif
    return 0;
}
