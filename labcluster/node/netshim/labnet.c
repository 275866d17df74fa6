/*
 * labnet.so — gives a process a pod's network view without namespaces (LD_PRELOAD).
 *
 * Why: labcluster runs pods as plain processes (no root, no network namespaces on Binder),
 * yet every pod must listen on its own IP and resolve cluster DNS names, whatever it is
 * written in (PostgreSQL's psql, nginx, curl, Python). Interposing a few libc calls does
 * that for every dynamically linked program.
 *
 *   bind():    0.0.0.0 / 127.0.0.1 (and ::, ::ffff:0.0.0.0) become the pod IP
 *              ($LABCLUSTER_POD_IP), so replicas listening on the same port coexist.
 *              An IPV6_V6ONLY wildcard (nginx "listen [::]:80") goes to [::1] on an
 *              ephemeral port: pods have IPv4 only, and two pods must not collide there.
 *   gethostname(), uname(): the pod's hostname ($LABCLUSTER_HOSTNAME), as in a pod's UTS
 *              namespace: `hostname` and socket.gethostname() say the pod name.
 *   connect(): 127.0.0.1 becomes the pod IP, so "localhost" means this pod, as on a
 *              real cluster (redis-cli in the redis pod, sidecars).
 *   services:  TCP connect() to a ClusterIP:port goes to one of its ready endpoints
 *              ($LABCLUSTER_SERVICES), as kube-proxy's iptables DNAT does.
 *   ports:     with $LABCLUSTER_PORT_REMAP (non-root nodes), ports below the privileged
 *              limit are shifted on bind and on TCP connect to cluster addresses.
 *   getaddrinfo(), gethostbyname(), gethostbyname_r(): names are looked up in the hosts
 *              table file ($LABCLUSTER_HOSTS, re-read when it changes) with the pod's
 *              search list ($LABCLUSTER_SEARCH) and ndots:5, then the real getaddrinfo
 *              is called on the numeric address (so the caller gets glibc's own
 *              structures and freeaddrinfo works). A miss that is a single label or
 *              inside cluster.local fails with EAI_NONAME (NXDOMAIN's symptom); other
 *              names go to the real resolver. The same rules live in labcluster/node/dns.py.
 *
 * Build: cc -shared -fPIC -O2 -o labnet.so labnet.c -ldl   (labcluster does it on first use)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>

#define NDOTS 5
#define MAX_ADDRS 32
#define MAX_NAME 256

struct entry { char name[MAX_NAME]; char ip[INET_ADDRSTRLEN]; };

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table = NULL;
static size_t table_len = 0;
/* (mtime, inode, size) of a table file, to re-read it only when it was replaced. */
struct stamp { struct timespec mtime; ino_t ino; off_t size; };
static struct stamp table_stamp = {{0, 0}, 0, -1};

/* Open the file named by $var when it changed since `seen` (NULL otherwise); *gone is set
 * when it does not exist, so the caller drops its table. */
static FILE *open_if_changed(const char *var, struct stamp *seen, int *gone) {
    const char *path = getenv(var);
    struct stat st;
    *gone = !path || stat(path, &st) != 0;
    if (*gone) { seen->size = -1; return NULL; }
    if (seen->size == st.st_size && seen->ino == st.st_ino &&
        seen->mtime.tv_sec == st.st_mtim.tv_sec && seen->mtime.tv_nsec == st.st_mtim.tv_nsec)
        return NULL;
    FILE *f = fopen(path, "r");
    if (f) { seen->mtime = st.st_mtim; seen->ino = st.st_ino; seen->size = st.st_size; }
    return f;
}

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
typedef struct hostent *(*ghbn_fn)(const char *);
typedef int (*ghbnr_fn)(const char *, struct hostent *, char *, size_t, struct hostent **, int *);

static void *next(const char *symbol) { return dlsym(RTLD_NEXT, symbol); }

static const char *pod_ip(void) {
    const char *ip = getenv("LABCLUSTER_POD_IP");
    struct in_addr probe;
    return (ip && inet_pton(AF_INET, ip, &probe) == 1) ? ip : NULL;
}

/* ---------- hosts table ---------- */

static void lower_copy(char *dst, const char *src, size_t n) {
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++) dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

/* Re-read the table when (mtime, inode, size) changed. Caller holds table_lock. */
static void refresh_table(void) {
    int gone;
    FILE *f = open_if_changed("LABCLUSTER_HOSTS", &table_stamp, &gone);
    if (gone) { free(table); table = NULL; table_len = 0; }
    if (!f) return;
    struct entry *fresh = NULL;
    size_t len = 0, cap = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *save = NULL;
        char *ip = strtok_r(line, " \t\r\n", &save);
        struct in_addr probe;
        if (!ip || inet_pton(AF_INET, ip, &probe) != 1) continue;
        for (char *name = strtok_r(NULL, " \t\r\n", &save); name;
             name = strtok_r(NULL, " \t\r\n", &save)) {
            if (len == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct entry *grown = realloc(fresh, ncap * sizeof *fresh);
                if (!grown) break;
                fresh = grown; cap = ncap;
            }
            lower_copy(fresh[len].name, name, MAX_NAME);
            snprintf(fresh[len].ip, sizeof fresh[len].ip, "%s", ip);
            len++;
        }
    }
    fclose(f);
    free(table);
    table = fresh; table_len = len;
}

/* Collect the addresses of exactly `name`. Caller holds table_lock. */
static int table_find(const char *name, char out[][INET_ADDRSTRLEN], int max) {
    int n = 0;
    for (size_t i = 0; i < table_len && n < max; i++)
        if (strcmp(table[i].name, name) == 0) snprintf(out[n++], INET_ADDRSTRLEN, "%s", table[i].ip);
    return n;
}

static int is_numeric(const char *name) {
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static int is_cluster_only(const char *name) {
    static const char *pass[] = {"localhost", "localhost.localdomain", "ip6-localhost", NULL};
    for (int i = 0; pass[i]; i++) if (strcmp(name, pass[i]) == 0) return 0;
    if (!strchr(name, '.')) return 1;
    size_t len = strlen(name), sfx = strlen(".cluster.local");
    return strcmp(name, "cluster.local") == 0 ||
           (len > sfx && strcmp(name + len - sfx, ".cluster.local") == 0);
}

enum verdict { PASS_ON = 0, FOUND = 1, NXDOMAIN = 2 };

/* Decide how to answer `raw`: fill `out` with addresses (FOUND), or say NXDOMAIN/PASS_ON. */
static enum verdict cluster_lookup(const char *raw, char out[][INET_ADDRSTRLEN], int *count) {
    *count = 0;
    if (!raw || !*raw || is_numeric(raw) || !getenv("LABCLUSTER_HOSTS")) return PASS_ON;
    char name[MAX_NAME];
    lower_copy(name, raw, sizeof name);
    size_t len = strlen(name);
    int absolute = len > 0 && name[len - 1] == '.';
    if (absolute) name[len - 1] = '\0';

    const char *host = getenv("LABCLUSTER_HOSTNAME");
    const char *ip = pod_ip();
    if (host && ip && strcasecmp(name, host) == 0) {
        snprintf(out[0], INET_ADDRSTRLEN, "%s", ip);
        *count = 1;
        return FOUND;
    }

    int dots = 0;
    for (const char *p = name; *p; p++) dots += *p == '.';
    char search[1024] = "";
    const char *env_search = getenv("LABCLUSTER_SEARCH");
    if (env_search && !absolute) snprintf(search, sizeof search, "%s", env_search);

    pthread_mutex_lock(&table_lock);
    refresh_table();
    int n = 0;
    if (absolute || dots >= NDOTS) n = table_find(name, out, MAX_ADDRS);
    if (!n && !absolute) {
        char *save = NULL;
        for (char *sfx = strtok_r(search, " \t,", &save); sfx && !n;
             sfx = strtok_r(NULL, " \t,", &save)) {
            char fqdn[MAX_NAME * 2];
            snprintf(fqdn, sizeof fqdn, "%s.%s", name, sfx);
            char low[MAX_NAME];
            lower_copy(low, fqdn, sizeof low);
            size_t l = strlen(low);
            if (l && low[l - 1] == '.') low[l - 1] = '\0';
            n = table_find(low, out, MAX_ADDRS);
        }
        if (!n && dots < NDOTS) n = table_find(name, out, MAX_ADDRS);
    }
    pthread_mutex_unlock(&table_lock);
    *count = n;
    if (n) return FOUND;
    return is_cluster_only(name) ? NXDOMAIN : PASS_ON;
}

/* ---------- getaddrinfo / gethostbyname ---------- */

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    static gai_fn real;
    if (!real) real = (gai_fn)next("getaddrinfo");
    if (hints && (hints->ai_flags & AI_NUMERICHOST)) return real(node, service, hints, res);
    char addrs[MAX_ADDRS][INET_ADDRSTRLEN];
    int count;
    enum verdict v = cluster_lookup(node, addrs, &count);
    if (v == PASS_ON) return real(node, service, hints, res);
    if (v == NXDOMAIN) return EAI_NONAME;

    struct addrinfo numeric;
    memset(&numeric, 0, sizeof numeric);
    if (hints) numeric = *hints;
    numeric.ai_flags |= AI_NUMERICHOST;
    numeric.ai_flags &= ~AI_CANONNAME;
    struct addrinfo *head = NULL, **tail = &head;
    int last = EAI_NONAME;
    for (int i = 0; i < count; i++) {
        struct addrinfo *part = NULL;
        last = real(addrs[i], service, &numeric, &part);
        if (last != 0 || !part) continue;
        *tail = part;
        while (*tail) tail = &(*tail)->ai_next;
    }
    if (!head) return last;
    /* glibc frees each node and its ai_canonname separately, so chaining lists is safe. */
    if (hints && (hints->ai_flags & AI_CANONNAME)) head->ai_canonname = strdup(node);
    *res = head;
    return 0;
}

struct hostent_store {
    struct in_addr addrs[MAX_ADDRS];
    char *addr_list[MAX_ADDRS + 1];
    char *aliases[1];
    char name[MAX_NAME];
};

/* Fill `he` for a cluster answer using `store` as backing memory. */
static void fill_hostent(struct hostent *he, struct hostent_store *store, const char *name,
                         char addrs[][INET_ADDRSTRLEN], int count) {
    snprintf(store->name, sizeof store->name, "%s", name);
    for (int i = 0; i < count; i++) {
        inet_pton(AF_INET, addrs[i], &store->addrs[i]);
        store->addr_list[i] = (char *)&store->addrs[i];
    }
    store->addr_list[count] = NULL;
    store->aliases[0] = NULL;
    he->h_name = store->name;
    he->h_aliases = store->aliases;
    he->h_addrtype = AF_INET;
    he->h_length = sizeof(struct in_addr);
    he->h_addr_list = store->addr_list;
}

struct hostent *gethostbyname(const char *name) {
    static ghbn_fn real;
    static __thread struct hostent he;
    static __thread struct hostent_store store;
    if (!real) real = (ghbn_fn)next("gethostbyname");
    char addrs[MAX_ADDRS][INET_ADDRSTRLEN];
    int count;
    enum verdict v = cluster_lookup(name, addrs, &count);
    if (v == PASS_ON) return real(name);
    if (v == NXDOMAIN) { h_errno = HOST_NOT_FOUND; return NULL; }
    fill_hostent(&he, &store, name, addrs, count);
    return &he;
}

int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
                    struct hostent **result, int *h_errnop) {
    static ghbnr_fn real;
    if (!real) real = (ghbnr_fn)next("gethostbyname_r");
    char addrs[MAX_ADDRS][INET_ADDRSTRLEN];
    int count;
    enum verdict v = cluster_lookup(name, addrs, &count);
    if (v == PASS_ON) return real(name, ret, buf, buflen, result, h_errnop);
    *result = NULL;
    if (v == NXDOMAIN) { if (h_errnop) *h_errnop = HOST_NOT_FOUND; return 0; }
    /* Align the caller's buffer for our struct. */
    uintptr_t p = ((uintptr_t)buf + 15) & ~(uintptr_t)15;
    size_t pad = p - (uintptr_t)buf;
    if (buflen < pad + sizeof(struct hostent_store)) return ERANGE;
    fill_hostent(ret, (struct hostent_store *)p, name, addrs, count);
    *result = ret;
    return 0;
}

/* ---------- bind / connect ---------- */

/* Privileged ports for unprivileged pods ($LABCLUSTER_PORT_REMAP = "below:offset", set by
 * the node only when it is not root; see labcluster/node/ports.py): a port in [1, below)
 * is shifted by offset on bind, and on TCP connect to a cluster address (127/8 outside
 * 127.0.x.x: pod IPs and ClusterIPs), so "listen 80" and "connect svc:80" still meet. */
static int remap_below = -1, remap_offset = 0;

static void remap_init(void) {
    if (remap_below >= 0) return;
    const char *spec = getenv("LABCLUSTER_PORT_REMAP");
    int below = 0, offset = 0;
    if (!spec || sscanf(spec, "%d:%d", &below, &offset) != 2 || below <= 0 || offset <= 0 ||
        below + offset > 65535)
        below = offset = 0;
    remap_offset = offset;
    remap_below = below;
}

static in_port_t remap(in_port_t net_port) {
    remap_init();
    int port = ntohs(net_port);
    if (remap_below > 0 && port > 0 && port < remap_below) return htons(port + remap_offset);
    return net_port;
}

static int cluster_address(const struct in_addr *a) {
    uint32_t ip = ntohl(a->s_addr);
    return (ip >> 24) == 127 && ((ip >> 16) & 0xff) != 0;
}

/* Services ($LABCLUSTER_SERVICES, written by the node): "clusterIP port ip:port ..." per
 * line. A pod's TCP connect() to a ClusterIP:port goes straight to one of the ready
 * endpoints, round robin from a random starting point — a one-connection process (each
 * curl of a shell loop) then lands on a random endpoint, as iptables' `statistic --mode
 * random` rules pick one; seeding from the pid made a loop whose pids step by 2 hit the same
 * pod every time. Done as kube-proxy's iptables mode does with DNAT in the kernel, so
 * pod-to-Service traffic has no proxy process in its path. No endpoint →
 * ECONNREFUSED (iptables REJECT). Ports in the file are host ports (already shifted). */
#define MAX_EPS 64
struct service { struct in_addr ip; in_port_t port; int n; struct sockaddr_in eps[MAX_EPS]; };
static pthread_mutex_t svc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct service *services = NULL;
static size_t services_len = 0;
static struct stamp svc_stamp = {{0, 0}, 0, -1};
static unsigned int svc_rr = 0;
static int svc_seeded = 0;

/* Caller holds svc_lock. */
static void refresh_services(void) {
    int gone;
    FILE *f = open_if_changed("LABCLUSTER_SERVICES", &svc_stamp, &gone);
    if (gone) { free(services); services = NULL; services_len = 0; }
    if (!f) return;
    struct service *fresh = NULL;
    size_t len = 0, cap = 0;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *save = NULL;
        char *ip = strtok_r(line, " \t\r\n", &save);
        char *port = ip ? strtok_r(NULL, " \t\r\n", &save) : NULL;
        if (!ip || !port || *ip == '#') continue;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            struct service *grown = realloc(fresh, ncap * sizeof *fresh);
            if (!grown) break;
            fresh = grown; cap = ncap;
        }
        struct service *svc = &fresh[len];
        memset(svc, 0, sizeof *svc);
        if (inet_pton(AF_INET, ip, &svc->ip) != 1) continue;
        svc->port = htons((in_port_t)atoi(port));
        for (char *ep = strtok_r(NULL, " \t\r\n", &save); ep && svc->n < MAX_EPS;
             ep = strtok_r(NULL, " \t\r\n", &save)) {
            char *colon = strrchr(ep, ':');
            if (!colon) continue;
            *colon = '\0';
            struct sockaddr_in *out = &svc->eps[svc->n];
            out->sin_family = AF_INET;
            out->sin_port = htons((in_port_t)atoi(colon + 1));
            if (inet_pton(AF_INET, ep, &out->sin_addr) == 1) svc->n++;
        }
        len++;
    }
    fclose(f);
    free(services);
    services = fresh; services_len = len;
    if (!svc_seeded) {
        if (getrandom(&svc_rr, sizeof svc_rr, GRND_NONBLOCK) != (ssize_t)sizeof svc_rr)
            svc_rr = (unsigned int)getpid() * 2654435761u ^ (unsigned int)svc_stamp.mtime.tv_nsec;
        svc_seeded = 1;
    }
}

/* 1: `in` was a Service and now holds an endpoint; -1: a Service with no endpoint;
 * 0: not a Service. */
static int service_endpoint(struct sockaddr_in *in) {
    if (!getenv("LABCLUSTER_SERVICES")) return 0;
    int found = 0;
    pthread_mutex_lock(&svc_lock);
    refresh_services();
    for (size_t i = 0; i < services_len; i++) {
        struct service *svc = &services[i];
        if (svc->ip.s_addr != in->sin_addr.s_addr || svc->port != in->sin_port) continue;
        if (svc->n == 0) { found = -1; break; }
        *in = svc->eps[svc_rr++ % (unsigned int)svc->n];
        found = 1;
        break;
    }
    pthread_mutex_unlock(&svc_lock);
    return found;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static bind_fn real;
    if (!real) real = (bind_fn)next("bind");
    const char *ip = pod_ip();
    if (!addr) return real(fd, addr, len);
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in = *(const struct sockaddr_in *)addr;
        if (ip && (in.sin_addr.s_addr == htonl(INADDR_ANY) ||
                   in.sin_addr.s_addr == htonl(INADDR_LOOPBACK)))
            inet_pton(AF_INET, ip, &in.sin_addr);
        in.sin_port = remap(in.sin_port);
        return real(fd, (struct sockaddr *)&in, sizeof in);
    } else if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6 = *(const struct sockaddr_in6 *)addr;
        static const unsigned char mapped_any[16] = {0,0,0,0,0,0,0,0,0,0,0xff,0xff,0,0,0,0};
        int any = IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr) ||
                  memcmp(&in6.sin6_addr, mapped_any, 16) == 0;
        in6.sin6_port = remap(in6.sin6_port);
        if (ip && any) {
            int v6only = 0;
            socklen_t optlen = sizeof v6only;
            getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &optlen);
            if (v6only) {
                in6.sin6_addr = in6addr_loopback;
                in6.sin6_port = 0;
            } else {
                char mapped[64];
                snprintf(mapped, sizeof mapped, "::ffff:%s", ip);
                inet_pton(AF_INET6, mapped, &in6.sin6_addr);
            }
        }
        return real(fd, (struct sockaddr *)&in6, sizeof in6);
    }
    return real(fd, addr, len);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static connect_fn real;
    if (!real) real = (connect_fn)next("connect");
    const char *ip = pod_ip();
    if (addr && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in = *(const struct sockaddr_in *)addr;
        if (ip && in.sin_addr.s_addr == htonl(INADDR_LOOPBACK))
            inet_pton(AF_INET, ip, &in.sin_addr);
        int type = 0;
        socklen_t optlen = sizeof type;
        if (cluster_address(&in.sin_addr) &&
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen) == 0 && type == SOCK_STREAM) {
            in.sin_port = remap(in.sin_port);
            if (service_endpoint(&in) < 0) { errno = ECONNREFUSED; return -1; }
        }
        return real(fd, (struct sockaddr *)&in, sizeof in);
    }
    return real(fd, addr, len);
}

/* ---------- hostname ---------- */

typedef int (*uname_fn)(struct utsname *);

int gethostname(char *name, size_t len) {
    const char *host = getenv("LABCLUSTER_HOSTNAME");
    if (!host || !*host) {
        struct utsname u;
        static uname_fn real;
        if (!real) real = (uname_fn)next("uname");
        if (real(&u) != 0) return -1;
        host = u.nodename;
        if (strlen(host) + 1 > len) { errno = ENAMETOOLONG; return -1; }
        memcpy(name, host, strlen(host) + 1);
        return 0;
    }
    if (strlen(host) + 1 > len) { errno = ENAMETOOLONG; return -1; }
    memcpy(name, host, strlen(host) + 1);
    return 0;
}

int uname(struct utsname *buf) {
    static uname_fn real;
    if (!real) real = (uname_fn)next("uname");
    int rc = real(buf);
    const char *host = getenv("LABCLUSTER_HOSTNAME");
    if (rc == 0 && host && *host) snprintf(buf->nodename, sizeof buf->nodename, "%s", host);
    return rc;
}

/* ---- containment (labcluster/node/security.py), kept apart from the network code ----
 * With LABCLUSTER_NODUMP=1 (set by a root node, whose pods share uids such as `nobody`)
 * the process makes itself non-dumpable: another pod of the same uid can then neither
 * read its /proc/<pid>/environ (Secrets passed as env) nor ptrace it; the node (root)
 * still can. execve() resets the flag, hence a constructor in every program preloaded. */
#include <sys/prctl.h>

__attribute__((constructor)) static void labnet_nodump(void) {
    const char *flag = getenv("LABCLUSTER_NODUMP");
    if (flag && flag[0] == '1') prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* ---- the image's /etc/passwd for a uid this machine does not know (security.py) ----
 * A container run as runAsUser 70 (the postgres image's own user) is a uid the host's
 * passwd may lack; initdb and postgres look themselves up and stop ("could not look up
 * effective user ID 70"). The official image's entrypoint covers that with nss_wrapper;
 * here LABCLUSTER_USER_NAME names the container's user and only that lookup is answered. */
#include <pwd.h>

static struct passwd *labnet_own_user(uid_t uid, struct passwd *pw, char *buf, size_t n) {
    const char *name = getenv("LABCLUSTER_USER_NAME");
    if (!name || uid != geteuid() || strlen(name) + 1 > n) return NULL;
    memcpy(buf, name, strlen(name) + 1);
    pw->pw_name = buf;
    pw->pw_passwd = (char *)"x";
    pw->pw_uid = uid;
    pw->pw_gid = getegid();
    pw->pw_gecos = (char *)"";
    pw->pw_dir = (char *)"/";
    pw->pw_shell = (char *)"/bin/sh";
    return pw;
}

struct passwd *getpwuid(uid_t uid) {
    static struct passwd *(*real)(uid_t);
    static struct passwd pw;
    static char name[64];
    if (!real) real = (struct passwd * (*)(uid_t)) next("getpwuid");
    struct passwd *found = real ? real(uid) : NULL;
    return found ? found : labnet_own_user(uid, &pw, name, sizeof name);
}

int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t n, struct passwd **result) {
    static int (*real)(uid_t, struct passwd *, char *, size_t, struct passwd **);
    if (!real) real = (int (*)(uid_t, struct passwd *, char *, size_t, struct passwd **))
        next("getpwuid_r");
    int rc = real ? real(uid, pw, buf, n, result) : ENOENT;
    if (rc == 0 && *result == NULL) *result = labnet_own_user(uid, pw, buf, n);
    return rc;
}
