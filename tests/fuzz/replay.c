/*
 * replay.c - a main() for fuzz targets built without libFuzzer: runs
 * LLVMFuzzerTestOneInput over every file in the corpus directories (or files)
 * given on the command line, so the corpora are replayed as ordinary tests
 * (and under the sanitizers) in CI.
 */
#include "util/util.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path, unsigned *count)
{
    nt_buf buf = NT_BUF_INIT;
    if (nt_file_read(&buf, path, 64u << 20) < 0) {
        fprintf(stderr, "replay: %s\n", nt_error_last());
        return -1;
    }
    LLVMFuzzerTestOneInput(buf.ptr != NULL ? buf.ptr : (const uint8_t *)"", buf.len);
    nt_buf_dispose(&buf);
    (*count)++;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no corpus at %s\n", argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            nt_buf path = NT_BUF_INIT;
            while (d != NULL && (e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.') {
                    continue;
                }
                if (nt_path_join(&path, argv[i], e->d_name) < 0 ||
                    replay_file(nt_buf_cstr(&path), &count) < 0) {
                    closedir(d);
                    nt_buf_dispose(&path);
                    return 1;
                }
            }
            if (d != NULL) {
                closedir(d);
            }
            nt_buf_dispose(&path);
        } else if (replay_file(argv[i], &count) < 0) {
            return 1;
        }
    }
    /* an empty corpus would make this test unable to fail */
    if (count == 0) {
        fprintf(stderr, "replay: empty corpus\n");
        return 1;
    }
    printf("replayed %u inputs\n", count);
    return 0;
}
