/*
 * audit_resume_test.c - two promises of issue 4 about long audits
 * (ledger/audit.c): the progress bar (what audit_run draws on stderr when
 * asked, as `notarium audit` does on a TTY, and nothing when not asked), and
 * resumable audits: a replay that extends the state saves it at commit
 * boundaries as it goes (save_interval_ms < 0: at every one), so a run that stops part-way (here
 * at a tampered last commit) keeps what it verified and the next run resumes
 * there; its twin with no intermediate save keeps nothing.
 */
#include "ledger/audit.h"
#include "tests/unit/ledger/mirror_fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int audit_with(audit_result *res, const char *source, const char *vkey, const char *state,
                      int progress, int save_ms)
{
    audit_options o = {0};
    o.source = source;
    o.vkey = vkey;
    o.state_path = state;
    o.progress = progress;
    o.save_interval_ms = save_ms;
    return audit_run(res, &o);
}

/* Run an audit with stderr redirected into `out`. */
static int audit_capture(nt_buf *out, const fixture *f, int progress)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/stderr.txt", f->dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    audit_result res;
    int rc = audit_with(&res, f->mirror_path, nt_buf_cstr((nt_buf *)&f->vkey), NULL, progress, 0);
    fflush(stderr);
    REQUIRE(dup2(saved, 2) == 2);
    close(saved);
    nt_buf_clear(out);
    REQUIRE(nt_file_read(out, path, 1u << 20) == 0);
    nt_buf_cstr(out);
    return rc;
}

static void test_progress(void)
{
    fixture f;
    fix_open(&f);
    fix_append(&f, 1, 300);
    REQUIRE(mirror_update(NULL, f.mirror_path, f.l) == 0);
    fix_append(&f, 1, 300);
    REQUIRE(mirror_update(NULL, f.mirror_path, f.l) == 0);
    nt_buf err = NT_BUF_INIT;
    CHECK_OK(audit_capture(&err, &f, 1));
    const char *s = nt_buf_cstr(&err);
    CHECK(strncmp(s, "\raudit: [", 9) == 0);
    CHECK(strstr(s, "[########################] 100.0%") != NULL);
    CHECK(strstr(s, "600/600 leaves") != NULL);
    CHECK(err.len > 0 && s[err.len - 1] == '\n' && strchr(s, '\n') == s + err.len - 1);
    if (strstr(s, "600/600 leaves") == NULL) {
        fprintf(stderr, "  progress output: \"%s\"\n", s);
    }
    /* twin: not asked (not a TTY), nothing drawn */
    CHECK_OK(audit_capture(&err, &f, 0));
    CHECK(err.len == 0);
    nt_buf_dispose(&err);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

/* A copy of the mirror whose last commit carries a checkpoint with a broken signature. */
static void tampered_copy(char *out, size_t cap, const fixture *f)
{
    snprintf(out, cap, "%s/tampered.git", f->dir);
    REQUIRE(fix_sh("rm -rf '%s' && cp -a '%s' '%s' && cd '%s' && "
                   "export GIT_INDEX_FILE=\"$PWD/idx\" && git read-tree main && "
                   "git cat-file blob main:checkpoint | sed '$s/^\\(.\\{20\\}\\)./\\1A/' "
                   ">cp.txt && git cat-file blob main:checkpoint | cmp -s - cp.txt; "
                   "test $? = 1 && h=$(git hash-object -w cp.txt) && "
                   "git update-index --cacheinfo 100644,$h,checkpoint && t=$(git write-tree) && "
                   "git log -1 --format=%%B main >msg && "
                   "c=$(git commit-tree $t -p main~1 -F msg) && git update-ref refs/heads/main $c",
                   out, f->mirror_path, out, out) == 0);
}

static void test_resume(int save_ms, int expect_saved)
{
    fixture f;
    fix_open(&f);
    for (int i = 0; i < 4; i++) {
        fix_append(&f, 1, 100);
        REQUIRE(mirror_update(NULL, f.mirror_path, f.l) == 0);
    }
    char bad[400], state[400];
    tampered_copy(bad, sizeof(bad), &f);
    snprintf(state, sizeof(state), "%s/audit.state", f.dir);
    const char *vkey = nt_buf_cstr(&f.vkey);
    audit_result res;
    /* the run stops at the last commit (size 400): a failure, reported as such */
    CHECK_ERR(audit_with(&res, bad, vkey, state, 0, save_ms), NT_EVERIFY);
    CHECK(strstr(nt_error_last(), "checkpoint of size 400: no valid signature") != NULL);
    CHECK(nt_path_exists(state) == expect_saved);
    if (expect_saved) {
        nt_buf text = NT_BUF_INIT;
        REQUIRE(nt_file_read(&text, state, 4096) == 0);
        CHECK(strstr(nt_buf_cstr(&text), "\nsize 300\n") != NULL);
        nt_buf_dispose(&text);
    }
    /* the next run (on the genuine copy) resumes where the stopped one got to */
    CHECK_OK(audit_with(&res, f.mirror_path, vkey, state, 0, save_ms));
    CHECK(res.size == 400);
    CHECK(res.resumed_size == (expect_saved ? 300u : 0u));
    CHECK(res.leaves == (expect_saved ? 100u : 400u));
    CHECK(res.checkpoints == (expect_saved ? 1u : 4u));
    /* and the tampered copy still fails against the state now at 400 */
    CHECK_ERR(audit_with(&res, bad, vkey, state, 0, save_ms), NT_EVERIFY);
    fix_close(&f);
    fix_sh("rm -rf '%s'", f.dir);
}

int main(void)
{
    test_progress();
    test_resume(-1, 1);     /* save at every commit boundary */
    test_resume(600000, 0); /* twin: no intermediate save, nothing kept */
    return TEST_END();
}
