/*
 * log.c - structured logging, one JSON object per line, so operators can feed
 * the log to any collector without a parser of ours.  A single write(2) per
 * line keeps lines from different threads whole.
 */
#include "util/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int log_level = NT_LOG_INFO;
static atomic_int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error", "none"};

void nt_log_set_level(nt_log_level level)
{
    atomic_store(&log_level, (int)level);
}

nt_log_level nt_log_get_level(void)
{
    return (nt_log_level)atomic_load(&log_level);
}

void nt_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

int nt_log_level_parse(nt_log_level *out, const char *name)
{
    for (size_t i = 0; i < NT_ARRAY_LEN(level_names); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (nt_log_level)i;
            return 0;
        }
    }
    return nt_error_set(NT_EINVAL, "unknown log level '%s'", name);
}

static void log_json_string(char *out, size_t cap, size_t *pos, const char *s)
{
    for (; *s != '\0' && *pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[(*pos)++] = '\\';
            out[(*pos)++] = (char)c;
        } else if (c < 0x20) {
            *pos += (size_t)snprintf(out + *pos, cap - *pos, "\\u%04x", c);
        } else {
            out[(*pos)++] = (char)c;
        }
    }
}

void nt_log(nt_log_level level, const char *fields, const char *fmt, ...)
{
    char msg[1024], line[4096];
    size_t pos = 0;
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if ((int)level < atomic_load(&log_level) || level >= NT_LOG_NONE) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line),
                 "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"msg\":\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, level_names[level]);
    pos = (size_t)n;
    log_json_string(line, sizeof(line) - 64, &pos, msg);
    line[pos++] = '"';
    if (fields != NULL && fields[0] != '\0') {
        n = snprintf(line + pos, sizeof(line) - pos - 3, ",%s", fields);
        if (n > 0) {
            pos += (size_t)n < sizeof(line) - pos - 3 ? (size_t)n : sizeof(line) - pos - 4;
        }
    }
    line[pos++] = '}';
    line[pos++] = '\n';
    if (write(atomic_load(&log_fd), line, pos) < 0) {
        /* nowhere left to report it */
    }
}
