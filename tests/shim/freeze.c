/*
 * freeze.c - test-only LD_PRELOAD shim that freezes "the disk" of the
 * process it is loaded into (never linked into the product; built by
 * tests/CMakeLists.txt as libnt_freeze.so).  While the file named by
 * $NT_FREEZE_FILE exists, every fsync, fdatasync and msync (the ledger's
 * commit) and every LMDB read-only transaction begin (a read that would
 * fault in pages from the stalled device) waits until the file is removed.
 * That is what a frozen filesystem or a hung storage device does to the
 * server, without needing root, a loop device or dm-suspend.  E2E tests
 * create and remove the file to freeze and thaw (tests/e2e/disk_freeze_*.sh).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <lmdb.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void freeze_wait(void)
{
    const char *path = getenv("NT_FREEZE_FILE");
    struct timespec ts = {0, 10 * 1000 * 1000};
    if (path == NULL || path[0] == '\0') {
        return;
    }
    while (access(path, F_OK) == 0) {
        nanosleep(&ts, NULL);
    }
}

int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    freeze_wait();
    return real(fd);
}

int fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    freeze_wait();
    return real(fd);
}

int msync(void *addr, size_t len, int flags)
{
    int (*real)(void *, size_t, int) = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
    freeze_wait();
    return real(addr, len, flags);
}

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
    int (*real)(MDB_env *, MDB_txn *, unsigned int, MDB_txn **) =
        (int (*)(MDB_env *, MDB_txn *, unsigned int, MDB_txn **))dlsym(RTLD_NEXT, "mdb_txn_begin");
    if (flags & MDB_RDONLY) {
        freeze_wait();
    }
    return real(env, parent, flags, txn);
}
