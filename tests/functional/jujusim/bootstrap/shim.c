/* jujusim hook-tool shim: forwards argv (and stdin for `--file -`) to the
 * simulator over the Unix socket named by JUJU_AGENT_SOCKET_ADDRESS, then
 * writes the reply's stdout/stderr and exits with its code.
 * Wire format (big endian): "JSM1" u32 nfields, then u32 len + bytes per field;
 * fields = context id, cwd, stdin, argv[0] (basename), argv[1..].
 * Reply: i32 rc, u32 len + stdout, u32 len + stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char *buf; static size_t blen, bcap;

static void put(const void *p, size_t n) {
    if (blen + n > bcap) { bcap = (blen + n) * 2 + 256; buf = realloc(buf, bcap); if (!buf) exit(70); }
    memcpy(buf + blen, p, n); blen += n;
}
static void put32(uint32_t v) { v = htonl(v); put(&v, 4); }
static void field(const char *p, size_t n) { put32((uint32_t)n); put(p, n); }

static int readall(int fd, void *p, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}
static int writeall(int fd, const void *p, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, (const char *)p + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *sock = getenv("JUJU_AGENT_SOCKET_ADDRESS");
    const char *ctx = getenv("JUJU_CONTEXT_ID");
    if (!sock || !ctx) { fprintf(stderr, "ERROR JUJU_CONTEXT_ID or JUJU_AGENT_SOCKET_ADDRESS not set\n"); return 1; }
    const char *name = strrchr(argv[0], '/'); name = name ? name + 1 : argv[0];
    int want_stdin = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--file=-") == 0) want_stdin = 1;
        if (strcmp(argv[i], "--file") == 0 && i + 1 < argc && strcmp(argv[i + 1], "-") == 0) want_stdin = 1;
    }
    char *in = NULL; size_t inlen = 0, incap = 0;
    if (want_stdin) {
        for (;;) {
            if (inlen + 4096 > incap) { incap = incap * 2 + 4096; in = realloc(in, incap); if (!in) return 70; }
            ssize_t r = read(0, in + inlen, incap - inlen);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            inlen += (size_t)r;
        }
    }
    char cwd[4096]; if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
    put("JSM1", 4); put32((uint32_t)(argc + 3));
    field(ctx, strlen(ctx)); field(cwd, strlen(cwd)); field(in ? in : "", inlen);
    field(name, strlen(name));
    for (int i = 1; i < argc; i++) field(argv[i], strlen(argv[i]));

    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr; memset(&addr, 0, sizeof addr); addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, sock, sizeof addr.sun_path - 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "ERROR cannot connect to the simulator at %s\n", sock); return 1;
    }
    if (writeall(fd, buf, blen) < 0) { fprintf(stderr, "ERROR lost the simulator\n"); return 1; }
    uint32_t hdr[2];
    if (readall(fd, hdr, 8) < 0) { fprintf(stderr, "ERROR lost the simulator\n"); return 1; }
    int32_t rc = (int32_t)ntohl(hdr[0]);
    uint32_t n = ntohl(hdr[1]);
    char *out = malloc(n + 1); if (!out || readall(fd, out, n) < 0) return 1;
    uint32_t m; if (readall(fd, &m, 4) < 0) return 1; m = ntohl(m);
    char *err = malloc(m + 1); if (!err || readall(fd, err, m) < 0) return 1;
    close(fd);
    writeall(1, out, n); writeall(2, err, m);
    return rc;
}
