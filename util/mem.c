/*
 * mem.c - allocation wrappers.  They exist so that tests can make the n-th
 * allocation fail (SQLite-style malloc tests) and so that overflow in n*size
 * is caught in one place.
 */
#include "util/util.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong fail_after; /* 0: never fail */
static atomic_ulong attempts;

static int mem_should_fail(void)
{
    unsigned long n = atomic_fetch_add(&attempts, 1) + 1;
    unsigned long limit = atomic_load(&fail_after);
    return limit != 0 && n >= limit;
}

unsigned long nt_mem_fail_after(unsigned long n)
{
    unsigned long seen = atomic_exchange(&attempts, 0);
    atomic_store(&fail_after, n);
    return seen;
}

static void *mem_oom(void)
{
    nt_error_set(NT_ENOMEM, "out of memory");
    return NULL;
}

void *nt_malloc(size_t size)
{
    void *p;
    if (mem_should_fail() || (p = malloc(size ? size : 1)) == NULL) {
        return mem_oom();
    }
    return p;
}

void *nt_calloc(size_t n, size_t size)
{
    void *p;
    size_t total = 0;
    if (nt_size_mul(&total, n, size) < 0 || mem_should_fail() ||
        (p = calloc(total ? total : 1, 1)) == NULL) {
        return mem_oom();
    }
    return p;
}

void *nt_realloc(void *ptr, size_t size)
{
    void *p;
    if (mem_should_fail() || (p = realloc(ptr, size ? size : 1)) == NULL) {
        return mem_oom();
    }
    return p;
}

void *nt_reallocarray(void *ptr, size_t n, size_t size)
{
    size_t total = 0;
    if (nt_size_mul(&total, n, size) < 0) {
        return mem_oom();
    }
    return nt_realloc(ptr, total);
}

char *nt_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = nt_malloc(len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

char *nt_strdup(const char *s)
{
    return nt_strndup(s, strlen(s));
}

void nt_free(void *ptr)
{
    free(ptr);
}

int nt_size_add(size_t *out, size_t a, size_t b)
{
    if (a > SIZE_MAX - b) {
        return nt_error_set(NT_ERANGE, "size overflow");
    }
    *out = a + b;
    return 0;
}

int nt_size_mul(size_t *out, size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a) {
        return nt_error_set(NT_ERANGE, "size overflow");
    }
    *out = a * b;
    return 0;
}

int nt_memeq_ct(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

void nt_wipe(void *ptr, size_t len)
{
    if (ptr != NULL) {
        OPENSSL_cleanse(ptr, len);
    }
}
