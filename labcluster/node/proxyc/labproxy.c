/* labproxy: the node's kube-proxy for host clients, in C (see __init__.py for why).
 *
 * Same behaviour as kubeproxy.py: one TCP listener per line of a plain-text table
 * ("host port ip:port ip:port ..." per line, written atomically by write_proxy_text),
 * round robin per new connection, the next target when one refuses or does not answer
 * within CONNECT_TIMEOUT, the client closed when no target is left, half-close passed
 * through, backpressure (a side is not read while the other's buffer is unsent).
 * The table is re-read when its (mtime, inode, size) changes: checked when inotify
 * reports a change in its directory (so endpoint changes apply to the next connection,
 * as in the Python proxy; without inotify, a stat per accept does that), every 200 ms
 * and on SIGHUP. Established connections outlive their listener. Exits with its parent.
 *
 * Single-threaded, edge-triggered epoll: each fd is registered once for in+out and the
 * relay runs until EAGAIN, so a connection costs no epoll_ctl beyond its two ADDs.
 *
 * Build: cc -O2 -Wall -Wextra -o labproxy labproxy.c      Run: labproxy TABLE [LABEL...]
 * (LABELs are ignored: the node passes its JSON table's path so the process is found by
 * the same command-line word as the Python proxy.)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <libgen.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 5000 /* as kubeproxy.CONNECT_TIMEOUT */
#define TICK_MS 200
#define BUFSIZE (64 * 1024)
#define MAX_EVENTS 256
#define MAX_TARGETS 256

enum { K_LISTENER, K_END, K_INOTIFY };

typedef struct {
    struct sockaddr_in addr;
} target_t;

typedef struct listener {
    int kind; /* K_LISTENER: first field, so an epoll pointer tells what it is */
    struct listener *next;
    char host[64];
    int port;
    int fd;        /* -1 while it could not bind (retried every tick) */
    int failed;    /* the bind error was printed once */
    int seen;      /* still in the table (mark and sweep on reload) */
    unsigned rr;   /* round-robin counter, kept across table changes */
    int ntargets;
    target_t *targets;
} listener_t;

struct conn;

typedef struct {
    int kind; /* K_END */
    int side; /* 0 client, 1 upstream */
    struct conn *conn;
} end_t;

/* buf[i] holds bytes read from side i, to be written to side 1-i. */
typedef struct conn {
    end_t ends[2];
    int fd[2];
    int readable[2], writable[2];
    int rdhup[2]; /* side i's FIN is queued: read until 0, not just to a short read */
    int eof[2];   /* side i sent FIN */
    int shut[2];  /* we sent FIN to side i */
    char *buf[2];
    size_t off[2], len[2];
    int connecting;
    long long deadline; /* ms, while connecting */
    int ntargets, tried;
    target_t *targets;  /* this connection's try order, a copy */
    int closed;
    struct conn *next_dead, *next_connecting, *prev_connecting;
} conn_t;

static const char *table_path;
static int epfd;
static listener_t *listeners;
static listener_t *dead_listeners;
static conn_t *dead_conns;
static conn_t *connecting_head;
static struct { long long mtime; ino_t ino; off_t size; int valid; } stamp;
static volatile sig_atomic_t got_hup, got_term;
static pid_t parent;
static int inotify_fd = -1; /* the table's directory: changes apply at once, no stat per
                               connection; without it, a stat per accept does that */
static int inotify_kind = K_INOTIFY;

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig) {
    if (sig == SIGHUP)
        got_hup = 1;
    else
        got_term = 1;
}

/* ---------------------------------------------------------------- table */

typedef struct entry {
    char host[64];
    int port;
    int ntargets;
    target_t targets[MAX_TARGETS];
} entry_t;

static int parse_target(const char *word, target_t *t) {
    char ip[64];
    const char *colon = strrchr(word, ':');
    if (colon == NULL || (size_t)(colon - word) >= sizeof ip)
        return -1;
    memcpy(ip, word, colon - word);
    ip[colon - word] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535)
        return -1;
    memset(t, 0, sizeof *t);
    t->addr.sin_family = AF_INET;
    t->addr.sin_port = htons((unsigned short)port);
    return inet_pton(AF_INET, ip, &t->addr.sin_addr) == 1 ? 0 : -1;
}

static void listener_open(listener_t *l) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)l->port);
    if (inet_pton(AF_INET, l->host, &sa.sin_addr) != 1) {
        if (!l->failed)
            fprintf(stderr, "kube-proxy: cannot listen on %s:%d: not an IPv4 address\n",
                    l->host, l->port);
        l->failed = 1;
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* accepted ones inherit it */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        goto fail;
    l->fd = fd;
    l->failed = 0;
    return;
fail:
    if (!l->failed)
        fprintf(stderr, "kube-proxy: cannot listen on %s:%d: %s\n", l->host, l->port,
                strerror(errno));
    l->failed = 1;
    if (fd >= 0)
        close(fd);
}

static void listener_drop(listener_t *l) {
    if (l->fd >= 0)
        close(l->fd); /* also leaves the epoll set */
    l->fd = -1;
    l->kind = -1;  /* events already fetched for it are ignored */
    l->next = dead_listeners;
    dead_listeners = l;
}

/* Re-read the table if its stamp changed; open/close listeners to match. */
static void reload(int force) {
    struct stat st;
    if (stat(table_path, &st) < 0)
        return; /* keep what we have, as the Python proxy does */
    long long mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    if (!force && stamp.valid && stamp.mtime == mtime && stamp.ino == st.st_ino &&
        stamp.size == st.st_size)
        return;
    FILE *f = fopen(table_path, "re");
    if (f == NULL)
        return;
    if (fstat(fileno(f), &st) < 0) {
        fclose(f);
        return;
    }
    stamp.mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    stamp.ino = st.st_ino;
    stamp.size = st.st_size;
    stamp.valid = 1;

    for (listener_t *l = listeners; l; l = l->next)
        l->seen = 0;
    static entry_t e;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        char *save = NULL;
        char *host = strtok_r(line, " \t\r\n", &save);
        char *port = strtok_r(NULL, " \t\r\n", &save);
        if (host == NULL || port == NULL || strlen(host) >= sizeof e.host)
            continue;
        char *end;
        long p = strtol(port, &end, 10);
        if (*end != '\0' || p <= 0 || p > 65535)
            continue;
        snprintf(e.host, sizeof e.host, "%s", host);
        e.port = (int)p;
        e.ntargets = 0;
        for (char *w; (w = strtok_r(NULL, " \t\r\n", &save)) != NULL;)
            if (e.ntargets < MAX_TARGETS && parse_target(w, &e.targets[e.ntargets]) == 0)
                e.ntargets++;
        listener_t *l;
        for (l = listeners; l; l = l->next)
            if (l->port == e.port && strcmp(l->host, e.host) == 0)
                break;
        if (l == NULL) {
            l = calloc(1, sizeof *l);
            if (l == NULL)
                continue;
            l->kind = K_LISTENER;
            snprintf(l->host, sizeof l->host, "%s", e.host);
            l->port = e.port;
            l->fd = -1;
            l->next = listeners;
            listeners = l;
        }
        if (l->seen)
            continue; /* a duplicate line: the first one wins */
        l->seen = 1;
        target_t *copy = NULL;
        if (e.ntargets > 0) {
            copy = malloc(sizeof *copy * e.ntargets);
            if (copy == NULL)
                continue;
            memcpy(copy, e.targets, sizeof *copy * e.ntargets);
        }
        free(l->targets);
        l->targets = copy;
        l->ntargets = e.ntargets;
    }
    free(line);
    fclose(f);
    for (listener_t **pl = &listeners; *pl;) {
        listener_t *l = *pl;
        if (!l->seen) {
            *pl = l->next;
            listener_drop(l);
        } else {
            if (l->fd < 0)
                listener_open(l);
            pl = &l->next;
        }
    }
}

/* ---------------------------------------------------------------- connections */

static void connecting_unlink(conn_t *c) {
    if (!c->connecting)
        return;
    if (c->prev_connecting)
        c->prev_connecting->next_connecting = c->next_connecting;
    else
        connecting_head = c->next_connecting;
    if (c->next_connecting)
        c->next_connecting->prev_connecting = c->prev_connecting;
    c->next_connecting = c->prev_connecting = NULL;
    c->connecting = 0;
}

static void conn_close(conn_t *c) {
    if (c->closed)
        return;
    connecting_unlink(c);
    for (int i = 0; i < 2; i++)
        if (c->fd[i] >= 0) {
            close(c->fd[i]);
            c->fd[i] = -1;
        }
    c->closed = 1;
    c->next_dead = dead_conns;
    dead_conns = c;
}

static void conn_free(conn_t *c) {
    free(c->buf[0]);
    free(c->buf[1]);
    free(c->targets);
    free(c);
}

static void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Dial the next untried target; close the client when none is left. */
static void conn_dial(conn_t *c) {
    connecting_unlink(c);
    if (c->fd[1] >= 0) {
        close(c->fd[1]);
        c->fd[1] = -1;
    }
    while (c->tried < c->ntargets) {
        target_t *t = &c->targets[c->tried++];
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        if (connect(fd, (struct sockaddr *)&t->addr, sizeof t->addr) < 0 &&
            errno != EINPROGRESS) {
            close(fd);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = &c->ends[1]};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            continue;
        }
        c->fd[1] = fd;
        c->readable[1] = c->writable[1] = 0;
        c->connecting = 1;
        c->deadline = now_ms() + CONNECT_TIMEOUT_MS;
        c->prev_connecting = NULL;
        c->next_connecting = connecting_head;
        if (connecting_head)
            connecting_head->prev_connecting = c;
        connecting_head = c;
        return;
    }
    conn_close(c); /* no ready endpoint: the client sees the close */
}

/* Move bytes both ways until nothing more can move; pass EOFs on; close when done. */
static void conn_pump(conn_t *c) {
    int progress = 1;
    while (progress && !c->closed) {
        progress = 0;
        for (int s = 0; s < 2 && !c->closed; s++) {
            int d = 1 - s;
            int up_ready = !c->connecting; /* side 1 usable */
            if (s == 1 && !up_ready)
                continue; /* nothing to read from a socket still connecting */
            /* write what side s sent to side d */
            if (c->len[s] > c->off[s] && c->writable[d] && (d == 0 || up_ready)) {
                ssize_t n = send(c->fd[d], c->buf[s] + c->off[s], c->len[s] - c->off[s],
                                 MSG_NOSIGNAL);
                if (n > 0) {
                    c->off[s] += (size_t)n;
                    if (c->off[s] == c->len[s])
                        c->off[s] = c->len[s] = 0;
                    progress = 1;
                } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    c->writable[d] = 0;
                } else if (n < 0 && errno != EINTR) {
                    conn_close(c);
                    return;
                }
            }
            /* side s finished and all of it is sent: FIN to side d */
            if (c->eof[s] && c->len[s] == 0 && !c->shut[d] && (d == 0 || up_ready)) {
                if (c->shut[s] && c->eof[d] && c->len[d] == 0) {
                    conn_close(c); /* the other way is done too: close sends this FIN */
                    return;
                }
                shutdown(c->fd[d], SHUT_WR);
                c->shut[d] = 1;
                progress = 1;
            }
            /* read from s only when its buffer is empty: backpressure */
            if (c->len[s] == 0 && c->readable[s] && !c->eof[s]) {
                if (c->buf[s] == NULL && (c->buf[s] = malloc(BUFSIZE)) == NULL) {
                    conn_close(c);
                    return;
                }
                ssize_t n = recv(c->fd[s], c->buf[s], BUFSIZE, 0);
                if (n > 0) {
                    c->len[s] = (size_t)n;
                    c->off[s] = 0;
                    if (n < BUFSIZE) {
                        /* A short read drained the queue: ET reports the next arrival.
                           If the FIN was already queued when epoll told us (rdhup), the
                           kernel copied everything before it, so it is EOF now: no
                           recv() just to hear 0. */
                        c->readable[s] = 0;
                        c->eof[s] = c->rdhup[s];
                    }
                    progress = 1;
                } else if (n == 0) {
                    c->eof[s] = 1;
                    progress = 1;
                } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    c->readable[s] = 0;
                } else if (errno != EINTR) {
                    conn_close(c);
                    return;
                }
            }
        }
    }
    if (!c->closed && c->shut[0] && c->shut[1])
        conn_close(c); /* both ways finished */
}

static void on_end(end_t *e, uint32_t events) {
    conn_t *c = e->conn;
    if (c->closed)
        return;
    int s = e->side;
    if (s == 1 && c->connecting) {
        if (events & (EPOLLERR | EPOLLHUP)) {
            conn_dial(c); /* refused or reset: the next target */
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        connecting_unlink(c); /* writable without an error: connected */
        set_nodelay(c->fd[1]);
        c->writable[1] = 1;
        c->readable[1] = (events & (EPOLLIN | EPOLLRDHUP)) != 0;
        c->rdhup[1] = (events & EPOLLRDHUP) != 0;
        conn_pump(c);
        return;
    }
    if (events & EPOLLERR) {
        conn_close(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        c->readable[s] = 1;
    if (events & (EPOLLRDHUP | EPOLLHUP))
        c->rdhup[s] = 1;
    if (events & (EPOLLOUT | EPOLLHUP))
        c->writable[s] = 1;
    conn_pump(c);
}

static void on_accept(listener_t *l) {
    if (inotify_fd < 0) {
        reload(0); /* a stat per accept: endpoint changes apply at once */
        if (l->kind != K_LISTENER)
            return; /* the reload removed this listener */
    }
    /* One per event: the listener is level-triggered, so a burst comes back at once, and
       the sequential case saves the accept that would only say EAGAIN. */
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return; /* EAGAIN, ECONNABORTED, EMFILE...: the next event tries again */
    conn_t *c = calloc(1, sizeof *c);
    if (c == NULL || (l->ntargets > 0 &&
                      (c->targets = malloc(sizeof *c->targets * l->ntargets)) == NULL)) {
        free(c);
        close(fd);
        return;
    }
    c->fd[0] = fd;
    c->fd[1] = -1;
    for (int k = 0; k < 2; k++) {
        c->ends[k].kind = K_END;
        c->ends[k].side = k;
        c->ends[k].conn = c;
    }
    c->ntargets = l->ntargets;
    if (l->ntargets > 0) {
        unsigned start = l->rr++ % (unsigned)l->ntargets;
        for (int k = 0; k < l->ntargets; k++)
            c->targets[k] = l->targets[(start + k) % (unsigned)l->ntargets];
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.ptr = &c->ends[0]};
    if (c->ntargets == 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd); /* no endpoint: closed at once */
        conn_free(c);
        return;
    }
    conn_dial(c);
}

static void tick(void) {
    if (getppid() != parent)
        exit(0);
    reload(got_hup);
    got_hup = 0;
    for (listener_t *l = listeners; l; l = l->next)
        if (l->fd < 0)
            listener_open(l);
    long long now = now_ms();
    for (conn_t *c = connecting_head, *next; c; c = next) {
        next = c->next_connecting;
        if (c->deadline <= now)
            conn_dial(c); /* no answer: the next target */
    }
}

static void reap(void) {
    while (dead_conns) {
        conn_t *c = dead_conns;
        dead_conns = c->next_dead;
        conn_free(c);
    }
    while (dead_listeners) {
        listener_t *l = dead_listeners;
        dead_listeners = l->next;
        free(l->targets);
        free(l);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s TABLE [LABEL...]\n", argv[0]);
        return 2;
    }
    table_path = argv[1];
    parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (parent == 1 || getppid() != parent)
        return 0; /* the parent is already gone */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("kube-proxy: epoll_create1");
        return 1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", table_path);
    inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &inotify_kind};
        if (inotify_add_watch(inotify_fd, dirname(dir),
                              IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE) < 0 ||
            epoll_ctl(epfd, EPOLL_CTL_ADD, inotify_fd, &ev) < 0) {
            close(inotify_fd);
            inotify_fd = -1;
        }
    }
    reload(1);
    struct epoll_event events[MAX_EVENTS];
    long long next_tick = now_ms() + TICK_MS;
    while (!got_term) {
        long long wait = next_tick - now_ms();
        int n = epoll_wait(epfd, events, MAX_EVENTS, got_hup ? 0 : (int)(wait > 0 ? wait : 0));
        if (n < 0 && errno != EINTR) {
            perror("kube-proxy: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int kind = *(int *)events[i].data.ptr;
            if (kind == K_LISTENER)
                on_accept(events[i].data.ptr);
            else if (kind == K_END)
                on_end(events[i].data.ptr, events[i].events);
            else if (kind == K_INOTIFY) {
                char drain[4096];
                while (read(inotify_fd, drain, sizeof drain) > 0)
                    ;
                reload(0); /* the stamp tells whether it was our table */
            }
        }
        if (got_hup || now_ms() >= next_tick) {
            tick();
            next_tick = now_ms() + TICK_MS;
        }
        reap();
    }
    return 0;
}
