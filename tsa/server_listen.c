/*
 * server_listen.c - the daemon's listening sockets beside the plain one of
 * server_listen_open: the HTTPS listener (tls.listen) and the admin listener
 * (admin_listen), each bound here or handed over already bound by `notarium
 * serve` (bound as root before the privilege drop, tools/serve_privs.c); and
 * the port file and log line that announce them.
 */
#include "tsa/server_int.h"

#include <stdio.h>
#include <unistd.h>

void server__listen_fds_take(server_listen_fds *fds, const server_options *opts)
{
    fds->plain = opts != NULL && opts->has_listen_fd ? opts->listen_fd : -1;
    fds->tls = opts != NULL && opts->has_tls_fd ? opts->tls_fd : -1;
    fds->admin = opts != NULL && opts->has_admin_fd ? opts->admin_fd : -1;
}

void server__listen_fds_close(server_listen_fds *fds)
{
    int *all[] = {&fds->plain, &fds->tls, &fds->admin};
    for (size_t i = 0; i < NT_ARRAY_LEN(all); i++) {
        if (*all[i] >= 0) {
            close(*all[i]);
            *all[i] = -1;
        }
    }
}

/* Bind `spec` into *fd unless a socket was handed over; addr gets what is bound. */
static int one_open(int *fd, char *addr, size_t size, const char *spec)
{
    if (*fd >= 0) {
        return server__sock_address(addr, size, *fd);
    }
    return spec != NULL ? server_listen_open(fd, addr, size, spec) : 0;
}

int server__listeners_open(server_listen_fds *fds, server *s, const server_options *opts)
{
    const server_config *cfg = s->cfg;
    const char *plain = opts != NULL && opts->listen != NULL ? opts->listen : cfg->listen;
    int error = 0;

    NT_TRY(one_open(&fds->plain, s->address, sizeof(s->address), plain));
    NT_TRY(one_open(&fds->tls, s->tls_address, sizeof(s->tls_address), cfg->tls_listen));
    NT_TRY(one_open(&fds->admin, s->admin_address, sizeof(s->admin_address), cfg->admin_listen));
    NT_ENSURE(fds->plain >= 0 || fds->tls >= 0, NT_EINVAL,
              "no listener: listen is null and there is no tls.listen");
    if (fds->plain < 0) {
        snprintf(s->address, sizeof(s->address), "%s", s->tls_address);
    }
done:
    return error;
}

int server__listeners_announce(server *s, const server_options *opts, unsigned threads)
{
    nt_buf line = NT_BUF_INIT;
    int error = 0;

    if (opts != NULL && opts->port_file != NULL) {
        NT_TRY(nt_buf_printf(&line, "%s\n", s->address));
        if (s->tls_address[0] != '\0') {
            NT_TRY(nt_buf_printf(&line, "tls %s\n", s->tls_address));
        }
        if (s->admin_address[0] != '\0') {
            NT_TRY(nt_buf_printf(&line, "admin %s\n", s->admin_address));
        }
        NT_TRY(nt_file_write_atomic(opts->port_file, line.ptr, line.len, 0644));
    }
    {
        const server_live *lv = atomic_load(&s->live);
        nt_log(NT_LOG_INFO, NULL,
               "listening on %s (%u threads, key %s, %zu identities, boot epoch %u, ledger %s)",
               s->address, threads, lv->ids[lv->dflt].key_type, s->cfg->identity_count,
               s->boot_epoch, s->cfg->ledger_path);
    }
    if (s->tls_address[0] != '\0') {
        static const char *const auth[] = {"none", "optional", "required"};
        nt_log_info("HTTPS on %s (TLS 1.2 and 1.3, client certificates: %s)", s->tls_address,
                    auth[s->cfg->tls_client_auth]);
    }
    if (s->admin_address[0] != '\0') {
        nt_log_info("admin listener on %s (/metrics, /healthz)", s->admin_address);
    }
done:
    nt_buf_dispose(&line);
    return error;
}
