/* demo_proc.c — the processes and files of `treaty demo`: runs this binary's own subcommands
 * (init, network create, apikey create) with their output captured, starts `treaty node`
 * children in their own process group (a Ctrl-C at the terminal reaches only the demo, which
 * stops them in order) with PR_SET_PDEATHSIG so they stop even if the demo is killed, stops them,
 * and makes and removes the work directory. Called by cli_demo.c and demo_tour.c. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "node/demo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEMO_ARGS_MAX 32

/* In a child between fork and exec: only async-signal-safe calls. Closes every descriptor
 * above stderr (libcurl's sockets among them) and restores the signals the demo changed. */
static void child_prepare(void)
{
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < (int)max; fd++)
        close(fd);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* argv for execv: "treaty" then `args` (NULL-terminated). false when there are too many. */
static bool build_argv(const char *const *args, char *argv[DEMO_ARGS_MAX])
{
    size_t n = 0;
    argv[n++] = (char *)(uintptr_t) "treaty";
    for (size_t i = 0; args[i]; i++) {
        if (n + 1 >= DEMO_ARGS_MAX)
            return false;
        argv[n++] = (char *)(uintptr_t)args[i];
    }
    argv[n] = NULL;
    return true;
}

/* The exit code, or minus the number of the signal that ended the process. */
static int exit_code_of(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : -1;
}

int demo_run(struct demo *d, char *out, size_t out_size, const char *const *args)
{
    char *argv[DEMO_ARGS_MAX];
    int p[2];
    out[0] = '\0';
    if (!build_argv(args, argv))
        return demo_fail(d, "too many arguments for treaty %s", args[0]);
    if (pipe(p) != 0)
        return demo_fail(d, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return demo_fail(d, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
            _exit(127);
        child_prepare();
        execv(d->exe, argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    for (;;) {
        char buf[4096];
        ssize_t r = read(p[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r < out_size - 1 - len ? (size_t)r : out_size - 1 - len;
        memcpy(out + len, buf, take);
        len += take;
    }
    out[len] = '\0';
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return demo_fail(d, "waitpid: %s", strerror(errno));
    }
    int code = exit_code_of(status);
    if (code == 127)
        return demo_fail(d, "cannot run %s", d->exe);
    if (code < 0)
        return demo_fail(d, "treaty %s was killed by signal %d", args[0], WTERMSIG(status));
    return code;
}

int demo_spawn(struct demo *d, struct demo_node *n, const char *file, const char *const *args,
               int out_fd)
{
    char *argv[DEMO_ARGS_MAX];
    if (!build_argv(args, argv))
        return demo_fail(d, "too many arguments for %s", file);
    if (strchr(file, '/') == NULL) /* a name looked up in PATH: argv[0] is that name */
        argv[0] = (char *)(uintptr_t)file;
    int log = open(n->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log < 0)
        return demo_fail(d, "%s: %s", n->log, strerror(errno));
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(log);
        return demo_fail(d, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) /* the demo died before the line above */
            _exit(1);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(out_fd >= 0 ? out_fd : log, 1) < 0 ||
            dup2(log, 2) < 0)
            _exit(127);
        child_prepare();
        execvp(file, argv);
        _exit(127);
    }
    setpgid(pid, pid); /* also here: whichever of the two runs first */
    close(log);
    n->pid = pid;
    n->exit_code = 0;
    return 0;
}

int demo_node_start(struct demo *d, struct demo_node *n)
{
    char gen_path[DEMO_PATH_MAX + 16];
    snprintf(n->log, sizeof n->log, "%s/node.log", n->dir);
    snprintf(gen_path, sizeof gen_path, "%s/genesis.json", n->dir);
    bool first = access(gen_path, F_OK) != 0; /* the node keeps a copy after its first start */
    const char *args[] = {"node", "--dir", n->dir, first ? "--genesis" : NULL, d->genesis, NULL};
    return demo_spawn(d, n, d->exe, args, -1);
}

bool demo_node_alive(struct demo_node *n)
{
    if (n->pid <= 0)
        return false;
    int status;
    pid_t r = waitpid(n->pid, &status, WNOHANG);
    if (r == 0)
        return true;
    if (r == n->pid)
        n->exit_code = exit_code_of(status);
    else
        n->exit_code = -1; /* not our child any more: nothing left to wait for */
    n->pid = 0;
    return false;
}

void demo_node_kill(struct demo_node *n)
{
    if (n->pid <= 0)
        return;
    kill(n->pid, SIGKILL);
    int status;
    while (waitpid(n->pid, &status, 0) < 0 && errno == EINTR) {
    }
    n->exit_code = -SIGKILL;
    n->pid = 0;
}

int demo_stop_all(struct demo *d, unsigned timeout_ms)
{
    bool was[DEMO_ORGS];
    for (int i = 0; i < DEMO_ORGS; i++) {
        was[i] = d->nodes[i].pid > 0;
        if (was[i])
            kill(d->nodes[i].pid, SIGTERM);
    }
    uint64_t deadline = demo_now_ms() + timeout_ms;
    bool running = true;
    while (running && demo_now_ms() < deadline) {
        running = false;
        for (int i = 0; i < DEMO_ORGS; i++)
            running |= demo_node_alive(&d->nodes[i]);
        if (running) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL); /* not demo_sleep_ms: a second Ctrl-C must not skip this */
        }
    }
    int bad = 0;
    size_t off = 0;
    for (int i = 0; i < DEMO_ORGS; i++) {
        struct demo_node *n = &d->nodes[i];
        char what[96] = "";
        if (n->pid > 0) {
            demo_node_kill(n);
            snprintf(what, sizeof what, "did not stop within %u ms (killed)", timeout_ms);
        } else if (was[i] && n->exit_code > 0) {
            snprintf(what, sizeof what, "exited with %d on SIGTERM", n->exit_code);
        } else if (was[i] && n->exit_code < 0 && n->exit_code != -SIGTERM) {
            /* -SIGTERM: it got the signal before it could handle it (it had just started) */
            snprintf(what, sizeof what, "was ended by signal %d", -n->exit_code);
        }
        if (what[0] && off < sizeof d->why) {
            off += (size_t)snprintf(d->why + off, sizeof d->why - off,
                                    "%s%s's node %s (see %s/node.log)", bad ? "; " : "", n->org,
                                    what, n->dir);
            bad++;
        }
    }
    return bad;
}

int demo_ports_free(struct demo *d)
{
    unsigned count = 2 * DEMO_ORGS + (d->conn.on ? 1u : 0u); /* P+6: the connector's status */
    for (unsigned i = 0; i < count; i++) {
        uint16_t port = (uint16_t)(d->base_port + i);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
            return demo_fail(d, "socket: %s", strerror(errno));
        int one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as the node binds */
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = bind(s, (struct sockaddr *)&a, sizeof a);
        int e = errno;
        close(s);
        if (rc != 0)
            return demo_fail(d,
                             "port %u on 127.0.0.1 is not free (%s); the demo needs ports %u to "
                             "%u: choose others with --base-port",
                             port, strerror(e), d->base_port, d->base_port + count - 1);
    }
    return 0;
}

int demo_root_create(struct demo *d)
{
    if (!d->root[0]) {
        const char *tmp = getenv("TMPDIR");
        int n = snprintf(d->root, sizeof d->root, "%s/treaty-demo-XXXXXX",
                         tmp && tmp[0] ? tmp : "/tmp");
        if (n < 0 || (size_t)n >= sizeof d->root) {
            d->root[0] = '\0';
            return demo_fail(d, "TMPDIR is too long a path");
        }
        if (!mkdtemp(d->root))
            return demo_fail(d, "cannot create a temporary directory %s: %s", d->root,
                             strerror(errno));
        d->temp_root = true;
        return 0;
    }
    if (mkdir(d->root, 0700) != 0) {
        int e = errno;
        DIR *dir = e == EEXIST ? opendir(d->root) : NULL;
        struct dirent *ent = NULL;
        while (dir && (ent = readdir(dir)) != NULL)
            if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0)
                break;
        if (dir)
            closedir(dir);
        if (!dir || ent)
            return demo_fail(d, "--dir %s: %s", d->root,
                             dir ? "exists and is not empty" : strerror(e));
    }
    char abs[PATH_MAX];
    if (!realpath(d->root, abs))
        return demo_fail(d, "--dir %s: %s", d->root, strerror(errno));
    if (strlen(abs) >= sizeof d->root)
        return demo_fail(d, "--dir %s: path too long", abs);
    memcpy(d->root, abs, strlen(abs) + 1);
    return 0;
}

int demo_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    int rc = 0;
    struct dirent *ent;
    while ((ent = readdir(dir)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", path, ent->d_name) >= (int)sizeof sub)
            rc = -1;
        else if (demo_rmtree(sub) != 0)
            rc = -1;
    }
    closedir(dir);
    return rmdir(path) != 0 ? -1 : rc;
}

/* Up to the last `size` - 1 bytes of the process's log into `buf` (NUL-terminated); its length. */
static size_t log_end(const struct demo_node *n, char *buf, size_t size)
{
    int fd = open(n->log, O_RDONLY | O_CLOEXEC);
    buf[0] = '\0';
    if (fd < 0)
        return 0;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)size - 1 ? end - (off_t)size + 1 : 0;
    ssize_t len = pread(fd, buf, size - 1, from);
    close(fd);
    if (len <= 0)
        return 0;
    buf[len] = '\0';
    return (size_t)len;
}

void demo_log_tail(const struct demo_node *n, unsigned lines)
{
    char buf[8192];
    size_t len = log_end(n, buf, sizeof buf);
    if (len == 0)
        return;
    const char *p = buf + len;
    unsigned seen = 0;
    while (p > buf && seen <= lines)
        if (*--p == '\n' && p + 1 < buf + len)
            seen++;
    if (seen > lines)
        p++;
    fprintf(stderr, "--- last lines of %s ---\n%s%s", n->log, p, buf[len - 1] == '\n' ? "" : "\n");
}

void demo_log_last(const struct demo_node *n, char *out, size_t size)
{
    char buf[2048];
    size_t len = log_end(n, buf, sizeof buf);
    while (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    const char *nl = strrchr(buf, '\n');
    snprintf(out, size, "%s", len == 0 ? "(its log is empty)" : nl ? nl + 1 : buf);
}
