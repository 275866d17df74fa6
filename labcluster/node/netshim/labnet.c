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
 *   UDP:       datagrams to a UDP Service port ($LABCLUSTER_SERVICES_UDP: kube-dns) are
 *              DNATed in connect()/sendto()/sendmsg(), and replies' source addresses
 *              are translated back in recvfrom()/recvmsg(), as conntrack does: resolvers
 *              drop answers that do not come from the server they asked.
 *   ports:     with $LABCLUSTER_PORT_REMAP (non-root nodes), ports below the privileged
 *              limit are shifted on bind and on TCP connect to cluster addresses.
 *   policies:  TCP and UDP connect(), and UDP sendto()/sendmsg() with an address, are
 *              decided against the NetworkPolicy table ($LABCLUSTER_NETPOL, written by
 *              the node: labcluster/node/netpol.py) after Service DNAT; denied traffic is
 *              dropped as a CNI drops it (see "NetworkPolicy" below).
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
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
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

/* ---------- NetworkPolicy ---------- */

/* $LABCLUSTER_NETPOL (labcluster/node/netpol.py writes it; re-read when its stat changes):
 *   drop tcp IP PORT | drop udp IP PORT | timeout MS | iso POD_IP I|E|IE
 *   in|out POD_IP PROTO LOW HIGH CIDR [EXCEPT...]      (PROTO/CIDR may be "*")
 * A connection from this pod (source = $LABCLUSTER_POD_IP) needs our egress and the
 * destination pod's ingress; an isolated side needs a matching rule. Addresses are kept as
 * 16-byte IPv6 (IPv4 as ::ffff:a.b.c.d) so one prefix match serves both families. */
#define NP_MAX_EXCEPT 16
struct np_net { unsigned char addr[16]; int plen; };
struct np_rule {
    char out;                       /* 0: ingress to pod, 1: egress from pod */
    unsigned char pod[16];
    int proto;                      /* 0 any, else IPPROTO_TCP/UDP/SCTP */
    int low, high;
    int any;                        /* cidr "*" */
    struct np_net net;
    int nexcept;
    struct np_net except[NP_MAX_EXCEPT];
};
struct np_iso { unsigned char pod[16]; int in, out; };

static pthread_mutex_t np_lock = PTHREAD_MUTEX_INITIALIZER;
static struct np_rule *np_rules = NULL;
static size_t np_rules_len = 0;
static struct np_iso *np_isos = NULL;
static size_t np_isos_len = 0;
static struct sockaddr_in np_drop_tcp, np_drop_udp;
static int np_has_drop_tcp = 0, np_has_drop_udp = 0, np_timeout_ms = 2000;
static struct stamp np_stamp = {{0, 0}, 0, -1};

/* "a.b.c.d" or an IPv6 text into 16 bytes (IPv4 mapped); 1 on success. */
static int np_addr(const char *text, unsigned char out[16]) {
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return 1;
    }
    return inet_pton(AF_INET6, text, out) == 1;
}

static int np_parse_net(char *text, struct np_net *net) {
    char *slash = strchr(text, '/');
    if (!slash) return 0;
    *slash = '\0';
    int v4 = strchr(text, ':') == NULL;
    if (!np_addr(text, net->addr)) return 0;
    net->plen = atoi(slash + 1) + (v4 ? 96 : 0);
    return net->plen >= 0 && net->plen <= 128;
}

static int np_in_net(const unsigned char a[16], const struct np_net *net) {
    int bits = net->plen, i = 0;
    for (; bits >= 8; bits -= 8, i++) if (a[i] != net->addr[i]) return 0;
    if (bits == 0) return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - bits));
    return (a[i] & mask) == (net->addr[i] & mask);
}

static int np_proto(const char *text) {
    if (strcmp(text, "TCP") == 0) return IPPROTO_TCP;
    if (strcmp(text, "UDP") == 0) return IPPROTO_UDP;
    if (strcmp(text, "SCTP") == 0) return IPPROTO_SCTP;
    return 0;
}

static int np_key_cmp(int out_a, const unsigned char *pod_a, int out_b,
                      const unsigned char *pod_b) {
    if (out_a != out_b) return out_a - out_b;
    return memcmp(pod_a, pod_b, 16);
}

static int np_rule_cmp(const void *a, const void *b) {
    const struct np_rule *x = a, *y = b;
    return np_key_cmp(x->out, x->pod, y->out, y->pod);
}

/* Caller holds np_lock. */
static void refresh_netpol(void) {
    int gone;
    FILE *f = open_if_changed("LABCLUSTER_NETPOL", &np_stamp, &gone);
    if (gone) {
        free(np_rules); np_rules = NULL; np_rules_len = 0;
        free(np_isos); np_isos = NULL; np_isos_len = 0;
        np_has_drop_tcp = np_has_drop_udp = 0;
    }
    if (!f) return;
    struct np_rule *rules = NULL;
    struct np_iso *isos = NULL;
    size_t nrules = 0, crules = 0, nisos = 0, cisos = 0;
    np_has_drop_tcp = np_has_drop_udp = 0;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *save = NULL;
        char *w[6 + NP_MAX_EXCEPT];
        int n = 0;
        for (char *t = strtok_r(line, " \t\r\n", &save); t && n < (int)(sizeof w / sizeof *w);
             t = strtok_r(NULL, " \t\r\n", &save)) {
            if (*t == '#') break;
            w[n++] = t;
        }
        if (n == 0) continue;
        if (strcmp(w[0], "drop") == 0 && n == 4) {
            struct sockaddr_in *d = strcmp(w[1], "tcp") == 0 ? &np_drop_tcp : &np_drop_udp;
            memset(d, 0, sizeof *d);
            d->sin_family = AF_INET;
            d->sin_port = htons((in_port_t)atoi(w[3]));
            if (inet_pton(AF_INET, w[2], &d->sin_addr) == 1) {
                if (d == &np_drop_tcp) np_has_drop_tcp = 1; else np_has_drop_udp = 1;
            }
        } else if (strcmp(w[0], "timeout") == 0 && n == 2) {
            np_timeout_ms = atoi(w[1]);
        } else if (strcmp(w[0], "iso") == 0 && n == 3) {
            if (nisos == cisos) {
                size_t c = cisos ? cisos * 2 : 32;
                struct np_iso *g = realloc(isos, c * sizeof *g);
                if (!g) break;
                isos = g; cisos = c;
            }
            struct np_iso *iso = &isos[nisos];
            if (!np_addr(w[1], iso->pod)) continue;
            iso->in = strchr(w[2], 'I') != NULL;
            iso->out = strchr(w[2], 'E') != NULL;
            nisos++;
        } else if ((strcmp(w[0], "in") == 0 || strcmp(w[0], "out") == 0) && n >= 6) {
            if (nrules == crules) {
                size_t c = crules ? crules * 2 : 64;
                struct np_rule *g = realloc(rules, c * sizeof *g);
                if (!g) break;
                rules = g; crules = c;
            }
            struct np_rule *r = &rules[nrules];
            memset(r, 0, sizeof *r);
            r->out = w[0][0] == 'o';
            if (!np_addr(w[1], r->pod)) continue;
            r->proto = np_proto(w[2]);
            r->low = atoi(w[3]);
            r->high = atoi(w[4]);
            r->any = strcmp(w[5], "*") == 0;
            if (!r->any && !np_parse_net(w[5], &r->net)) continue;
            for (int i = 6; i < n && r->nexcept < NP_MAX_EXCEPT; i++)
                if (np_parse_net(w[i], &r->except[r->nexcept])) r->nexcept++;
            nrules++;
        }
    }
    fclose(f);
    /* sorted by (direction, pod): a connect looks at its two pods' rules only */
    if (nrules > 1) qsort(rules, nrules, sizeof *rules, np_rule_cmp);
    free(np_rules); np_rules = rules; np_rules_len = nrules;
    free(np_isos); np_isos = isos; np_isos_len = nisos;
}

/* Does a rule of `pod` in this direction match (peer, proto, port)? Caller holds np_lock. */
static int np_rule_match(int out, const unsigned char pod[16], const unsigned char peer[16],
                         int proto, int port) {
    size_t lo = 0, hi = np_rules_len;  /* first rule of (out, pod): rules are sorted */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (np_key_cmp(np_rules[mid].out, np_rules[mid].pod, out, pod) < 0) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i < np_rules_len; i++) {
        const struct np_rule *r = &np_rules[i];
        if (r->out != out || memcmp(r->pod, pod, 16) != 0) break;
        if ((r->proto && r->proto != proto) || port < r->low || port > r->high) continue;
        if (!r->any && !np_in_net(peer, &r->net)) continue;
        int excluded = 0;
        for (int e = 0; e < r->nexcept && !excluded; e++) excluded = np_in_net(peer, &r->except[e]);
        if (!excluded) return 1;
    }
    return 0;
}

/* The undoing of the privileged-port shift: policies speak the API's port numbers. */
static int np_api_port(const unsigned char dst[16], int port) {
    remap_init();
    uint32_t ip;
    memcpy(&ip, dst + 12, 4);
    static const unsigned char mapped[12] = {0,0,0,0,0,0,0,0,0,0,0xff,0xff};
    struct in_addr a = { ip };
    if (remap_below > 0 && memcmp(dst, mapped, 12) == 0 && cluster_address(&a) &&
        port > remap_offset && port < remap_offset + remap_below)
        return port - remap_offset;
    return port;
}

/* 1: this pod may send to dst:port (network byte order port); 0: policies deny it. */
static int np_allowed(const unsigned char dst[16], in_port_t net_port, int proto) {
    const char *ip = pod_ip();
    unsigned char src[16];
    if (!ip || !getenv("LABCLUSTER_NETPOL") || !np_addr(ip, src)) return 1;
    if (memcmp(src, dst, 16) == 0) return 1;  /* a pod always reaches itself */
    int port = np_api_port(dst, ntohs(net_port));
    int allowed = 1;
    pthread_mutex_lock(&np_lock);
    refresh_netpol();
    int src_out = 0, dst_in = 0;
    for (size_t i = 0; i < np_isos_len; i++) {
        if (memcmp(np_isos[i].pod, src, 16) == 0 && np_isos[i].out) src_out = 1;
        if (memcmp(np_isos[i].pod, dst, 16) == 0 && np_isos[i].in) dst_in = 1;
    }
    if (src_out && !np_rule_match(1, src, dst, proto, port)) allowed = 0;
    if (allowed && dst_in && !np_rule_match(0, dst, src, proto, port)) allowed = 0;
    pthread_mutex_unlock(&np_lock);
    return allowed;
}

/* What the kernel protocol of fd is, for a policy's `protocol` (0: not one we decide). */
static int np_sock_proto(int fd) {
    int type = 0, proto = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return 0;
    len = sizeof proto;
    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len);
    if (type == SOCK_STREAM) return proto == IPPROTO_SCTP ? IPPROTO_SCTP : IPPROTO_TCP;
    if (type == SOCK_DGRAM) return IPPROTO_UDP;
    if (type == SOCK_SEQPACKET) return IPPROTO_SCTP;
    return 0;
}

/* 16-byte form of a sockaddr's address and its port; 0 when not IPv4/IPv6. */
static int np_dest(const struct sockaddr *addr, socklen_t len, unsigned char out[16],
                   in_port_t *port) {
    if (!addr) return 0;
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
        *port = in->sin_port;
        return 1;
    }
    if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        memcpy(out, &in6->sin6_addr, 16);
        *port = in6->sin6_port;
        return 1;
    }
    return 0;
}

/* A denied connect: sent where the node drops it. TCP gets TCP_USER_TIMEOUT so the
 * dropped SYNs end in ETIMEDOUT after the table's timeout (or the caller's own, shorter,
 * timeout: a non-blocking connect answers EINPROGRESS and never completes). */
static int np_drop_connect(int fd, int family, int proto, connect_fn real) {
    int has;
    struct sockaddr_in target;
    int timeout;
    pthread_mutex_lock(&np_lock);
    has = proto == IPPROTO_UDP ? np_has_drop_udp : np_has_drop_tcp;
    target = proto == IPPROTO_UDP ? np_drop_udp : np_drop_tcp;
    timeout = np_timeout_ms;
    pthread_mutex_unlock(&np_lock);
    if (proto == IPPROTO_TCP)
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout);
    if (has && family == AF_INET) return real(fd, (struct sockaddr *)&target, sizeof target);
    if (has && family == AF_INET6) {
        struct sockaddr_in6 mapped;
        memset(&mapped, 0, sizeof mapped);
        mapped.sin6_family = AF_INET6;
        mapped.sin6_port = target.sin_port;
        mapped.sin6_addr.s6_addr[10] = mapped.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&mapped.sin6_addr.s6_addr[12], &target.sin_addr, 4);
        int rc = real(fd, (struct sockaddr *)&mapped, sizeof mapped);
        if (rc == 0 || errno == EINPROGRESS) return rc;
    }
    errno = ETIMEDOUT;  /* no drop address (or an IPv6-only socket): fail as a drop ends */
    return -1;
}

/* UDP to an address the policies deny is dropped on the way (the call succeeds): asked by
 * sendto()/sendmsg() below, after their Service DNAT. */
static int np_udp_denied(int fd, const struct sockaddr *addr, socklen_t alen) {
    unsigned char dst[16];
    in_port_t port;
    return addr && getenv("LABCLUSTER_NETPOL") && np_dest(addr, alen, dst, &port) &&
           np_sock_proto(fd) == IPPROTO_UDP && !np_allowed(dst, port, IPPROTO_UDP);
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

static int udp_dnat(struct sockaddr_in *in);  /* UDP Services, below */

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static connect_fn real;
    if (!real) real = (connect_fn)next("connect");
    const char *ip = pod_ip();
    unsigned char dst[16];
    in_port_t port;
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
        } else if (type == SOCK_DGRAM && udp_dnat(&in) < 0) { errno = ECONNREFUSED; return -1; }
        /* after DNAT: policies see the endpoint pod, not the ClusterIP */
        if (ip && getenv("LABCLUSTER_NETPOL")) {
            int proto = np_sock_proto(fd);
            if (proto && np_dest((struct sockaddr *)&in, sizeof in, dst, &port) &&
                !np_allowed(dst, port, proto))
                return np_drop_connect(fd, AF_INET, proto, real);
        }
        return real(fd, (struct sockaddr *)&in, sizeof in);
    }
    if (ip && addr && addr->sa_family == AF_INET6 && getenv("LABCLUSTER_NETPOL") &&
        np_dest(addr, len, dst, &port)) {
        int proto = np_sock_proto(fd);
        if (proto && !np_allowed(dst, port, proto))
            return np_drop_connect(fd, AF_INET6, proto, real);
    }
    return real(fd, addr, len);
}

/* ---------- UDP Services (DNAT + reverse translation) ----------
 * Kept apart from the TCP code above: a table of its own ($LABCLUSTER_SERVICES_UDP, same
 * "clusterIP port ip:port ..." lines, written by the node for UDP Service ports) and a
 * small map of the translations made, so a reply from the endpoint is reported as coming
 * from the address the program sent to (the ClusterIP and the unshifted port). */
static pthread_mutex_t udp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct service *udp_services = NULL;
static size_t udp_services_len = 0;
static struct stamp udp_stamp = {{0, 0}, 0, -1};
static unsigned int udp_rr = 0;
#define UDP_NAT_SLOTS 16
struct udp_nat { struct sockaddr_in to, from; };
static struct udp_nat udp_nat[UDP_NAT_SLOTS];
static int udp_nat_len = 0, udp_nat_next = 0;

/* Caller holds udp_lock. */
static void refresh_udp_services(void) {
    int gone;
    FILE *f = open_if_changed("LABCLUSTER_SERVICES_UDP", &udp_stamp, &gone);
    if (gone) { free(udp_services); udp_services = NULL; udp_services_len = 0; }
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
            size_t ncap = cap ? cap * 2 : 8;
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
    free(udp_services);
    udp_services = fresh; udp_services_len = len;
}

/* Rewrite a datagram destination: a cluster address gets the port shift, a UDP Service
 * one of its endpoints. 0: sent as rewritten; -1: a Service without endpoints. */
static int udp_dnat(struct sockaddr_in *in) {
    if (!cluster_address(&in->sin_addr)) return 0;
    struct sockaddr_in original = *in;
    in->sin_port = remap(in->sin_port);
    int rc = 0;
    pthread_mutex_lock(&udp_lock);
    if (getenv("LABCLUSTER_SERVICES_UDP")) {
        refresh_udp_services();
        for (size_t i = 0; i < udp_services_len; i++) {
            struct service *svc = &udp_services[i];
            if (svc->ip.s_addr != in->sin_addr.s_addr || svc->port != in->sin_port) continue;
            if (svc->n == 0) { rc = -1; break; }
            *in = svc->eps[udp_rr++ % (unsigned int)svc->n];
            break;
        }
    }
    if (rc == 0 && (in->sin_addr.s_addr != original.sin_addr.s_addr ||
                    in->sin_port != original.sin_port)) {
        int slot = -1;
        for (int i = 0; i < udp_nat_len; i++)
            if (udp_nat[i].to.sin_addr.s_addr == in->sin_addr.s_addr &&
                udp_nat[i].to.sin_port == in->sin_port) { slot = i; break; }
        if (slot < 0) {
            slot = udp_nat_len < UDP_NAT_SLOTS ? udp_nat_len++ : udp_nat_next;
            udp_nat_next = (udp_nat_next + 1) % UDP_NAT_SLOTS;
        }
        udp_nat[slot].to = *in;
        udp_nat[slot].from = original;
    }
    pthread_mutex_unlock(&udp_lock);
    return rc;
}

/* A reply's source: the endpoint becomes the address the program sent to. */
static void udp_undnat(struct sockaddr *addr, socklen_t *len) {
    if (!addr || !len || *len < (socklen_t)sizeof(struct sockaddr_in) ||
        addr->sa_family != AF_INET || !__atomic_load_n(&udp_nat_len, __ATOMIC_RELAXED))
        return;
    struct sockaddr_in *in = (struct sockaddr_in *)addr;
    pthread_mutex_lock(&udp_lock);
    for (int i = 0; i < udp_nat_len; i++)
        if (udp_nat[i].to.sin_addr.s_addr == in->sin_addr.s_addr &&
            udp_nat[i].to.sin_port == in->sin_port) {
            in->sin_addr = udp_nat[i].from.sin_addr;
            in->sin_port = udp_nat[i].from.sin_port;
            break;
        }
    pthread_mutex_unlock(&udp_lock);
}

static int is_dgram(int fd) {
    int type = 0;
    socklen_t optlen = sizeof type;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen) == 0 && type == SOCK_DGRAM;
}

/* The destination to use for a datagram to `addr`: NULL when unchanged, `out` when
 * rewritten; *refused for a Service without endpoints. */
static const struct sockaddr *udp_destination(int fd, const struct sockaddr *addr,
                                              socklen_t len, struct sockaddr_in *out,
                                              int *refused) {
    *refused = 0;
    if (!addr || addr->sa_family != AF_INET || len < (socklen_t)sizeof(struct sockaddr_in))
        return NULL;
    *out = *(const struct sockaddr_in *)addr;
    if (!cluster_address(&out->sin_addr) || !is_dgram(fd)) return NULL;
    if (udp_dnat(out) < 0) { *refused = 1; return NULL; }
    return (const struct sockaddr *)out;
}

typedef ssize_t (*sendto_fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef ssize_t (*recvfrom_fn)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
typedef ssize_t (*recvmsg_fn)(int, struct msghdr *, int);

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
               socklen_t len) {
    static sendto_fn real;
    if (!real) real = (sendto_fn)next("sendto");
    struct sockaddr_in out;
    int refused;
    const struct sockaddr *to = udp_destination(fd, addr, len, &out, &refused);
    if (refused) { errno = ECONNREFUSED; return -1; }
    if (np_udp_denied(fd, to ? to : addr, to ? (socklen_t)sizeof out : len)) return (ssize_t)n;
    return to ? real(fd, buf, n, flags, to, sizeof out) : real(fd, buf, n, flags, addr, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    static sendmsg_fn real;
    if (!real) real = (sendmsg_fn)next("sendmsg");
    struct sockaddr_in out;
    int refused;
    const struct sockaddr *to = msg ? udp_destination(fd, msg->msg_name, msg->msg_namelen,
                                                      &out, &refused) : NULL;
    if (msg && refused) { errno = ECONNREFUSED; return -1; }
    if (msg && np_udp_denied(fd, to ? to : msg->msg_name,
                             to ? (socklen_t)sizeof out : msg->msg_namelen)) {
        ssize_t total = 0;
        for (size_t i = 0; i < msg->msg_iovlen; i++) total += (ssize_t)msg->msg_iov[i].iov_len;
        return total;
    }
    if (!to) return real(fd, msg, flags);
    struct msghdr copy = *msg;
    copy.msg_name = (void *)to;
    copy.msg_namelen = sizeof out;
    return real(fd, &copy, flags);
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                 socklen_t *len) {
    static recvfrom_fn real;
    if (!real) real = (recvfrom_fn)next("recvfrom");
    ssize_t got = real(fd, buf, n, flags, addr, len);
    if (got >= 0) udp_undnat(addr, len);
    return got;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
    static recvmsg_fn real;
    if (!real) real = (recvmsg_fn)next("recvmsg");
    ssize_t got = real(fd, msg, flags);
    if (got >= 0 && msg) udp_undnat(msg->msg_name, &msg->msg_namelen);
    return got;
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
