/*
 * The load generator's packet paths in C, so that the generator is not the bottleneck.
 *
 * Reader: one epoll set for every subscriber socket of a worker process. Once a subscriber's
 * DTLS-SRTP is up, peers.py pauses asyncio's reader on its ICE socket and adds the socket here;
 * the event loop watches the epoll fd and calls drain(), which empties the ready sockets with
 * recvmmsg(), unprotects each SRTP packet in place with the subscriber's libsrtp session, reads
 * the bench stamp (magic, stream, sequence, send time: packets.py) and counts it in C arrays.
 * Anything that is not SRTP (STUN consent checks, DTLS) and SRTCP is handed back to Python,
 * which gives it to aioice's protocol as if asyncio had read it.
 *
 * Sender: the echo server's stamped packets (sfu_server.py --echo), protected with the peer's
 * libsrtp session and sent in batches, one UDP GSO send (UDP_SEGMENT) per batch where the kernel
 * has it: the receiver still gets one datagram per packet, and the echo's sending core is not
 * the limit of what it measures (the kernel's loopback delivery runs on the sending core).
 *
 * libsrtp is the copy inside pylibsrtp: the caller passes the address of its srtp_unprotect or
 * srtp_protect and of each session's srtp_t, so this module links against nothing but libc.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BUF 2048
#define EVENTS 64
#define ROUNDS 4 /* batches per ready socket per drain(): one busy socket cannot starve the rest */
#define STAMP_SIZE 20
#define MAGIC 0x43564231u /* "CVB1", packets.MAGIC */
#define MAX_STREAM (1 << 20)
#define SRTP_TRAILER 16 /* auth tag of AES_CM_128_HMAC_SHA1_80, no MKI */
#define BODY (4 + 1100) /* sfu_server.BODY: a VP8 descriptor and packets.MAX_CHUNK */
#define GSO_SEGMENTS 48 /* datagrams per UDP GSO send: 48 * 1142 bytes stay under 64 KB */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

typedef int (*srtp_fn)(void *ctx, void *pkt, int *len);

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static void put64(unsigned char *p, uint64_t v) {
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* ---------------------------------------------------------------- Reader */

typedef struct {
    int fd; /* -1 once removed */
    void *srtp;
    uint32_t size; /* entries in counts and window */
    uint64_t *counts;
    uint64_t *window;
} Sub;

typedef struct {
    PyObject_HEAD
    int epfd;
    srtp_fn unprotect;
    Sub *subs;
    Py_ssize_t nsubs, cap;
    int64_t t0, t1;
    int64_t *delays;
    size_t ndelays, delays_cap;
    unsigned long long packets, rejected, unstamped, handed_back, drains;
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage addrs[BATCH];
    unsigned char bufs[BATCH][BUF];
} Reader;

static int Reader_init(Reader *self, PyObject *args, PyObject *kwds) {
    unsigned long long unprotect;
    if (!PyArg_ParseTuple(args, "K", &unprotect)) return -1;
    self->unprotect = (srtp_fn)(uintptr_t)unprotect;
    if (self->epfd <= 0) self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->t0 = self->t1 = INT64_MAX;
    for (int i = 0; i < BATCH; i++) {
        self->iov[i].iov_base = self->bufs[i];
        self->iov[i].iov_len = BUF;
        self->msgs[i].msg_hdr.msg_iov = &self->iov[i];
        self->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    return 0;
}

static void Reader_dealloc(Reader *self) {
    if (self->epfd > 0) close(self->epfd);
    for (Py_ssize_t i = 0; i < self->nsubs; i++) {
        PyMem_Free(self->subs[i].counts);
        PyMem_Free(self->subs[i].window);
    }
    PyMem_Free(self->subs);
    PyMem_Free(self->delays);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Reader_fileno(Reader *self, PyObject *unused) { return PyLong_FromLong(self->epfd); }

static PyObject *Reader_add(Reader *self, PyObject *args) {
    int fd;
    unsigned long long srtp;
    if (!PyArg_ParseTuple(args, "iK", &fd, &srtp)) return NULL;
    if (self->nsubs == self->cap) {
        Py_ssize_t cap = self->cap ? 2 * self->cap : 64;
        Sub *subs = PyMem_Realloc(self->subs, cap * sizeof(Sub));
        if (subs == NULL) return PyErr_NoMemory();
        self->subs = subs;
        self->cap = cap;
    }
    Py_ssize_t index = self->nsubs;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)index};
    if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return PyErr_SetFromErrno(PyExc_OSError);
    self->subs[index] = (Sub){.fd = fd, .srtp = (void *)(uintptr_t)srtp};
    self->nsubs++;
    return PyLong_FromSsize_t(index);
}

static Sub *sub_at(Reader *self, PyObject *arg) {
    Py_ssize_t index = PyLong_AsSsize_t(arg);
    if (index == -1 && PyErr_Occurred()) return NULL;
    if (index < 0 || index >= self->nsubs) {
        PyErr_SetString(PyExc_IndexError, "no such subscriber");
        return NULL;
    }
    return &self->subs[index];
}

static PyObject *Reader_remove(Reader *self, PyObject *arg) {
    Sub *sub = sub_at(self, arg);
    if (sub == NULL) return NULL;
    if (sub->fd >= 0) epoll_ctl(self->epfd, EPOLL_CTL_DEL, sub->fd, NULL);
    sub->fd = -1;
    Py_RETURN_NONE;
}

static PyObject *Reader_set_window(Reader *self, PyObject *args) {
    long long t0, t1;
    if (!PyArg_ParseTuple(args, "LL", &t0, &t1)) return NULL;
    self->t0 = t0;
    self->t1 = t1;
    Py_RETURN_NONE;
}

static int grow(Sub *sub, uint32_t stream) {
    uint32_t size = sub->size ? sub->size : 16;
    while (size <= stream) size *= 2;
    uint64_t *counts = PyMem_Realloc(sub->counts, size * sizeof(uint64_t));
    if (counts == NULL) return -1;
    sub->counts = counts;
    uint64_t *window = PyMem_Realloc(sub->window, size * sizeof(uint64_t));
    if (window == NULL) return -1;
    sub->window = window;
    memset(counts + sub->size, 0, (size - sub->size) * sizeof(uint64_t));
    memset(window + sub->size, 0, (size - sub->size) * sizeof(uint64_t));
    sub->size = size;
    return 0;
}

static int add_delay(Reader *self, int64_t us) {
    if (self->ndelays == self->delays_cap) {
        size_t cap = self->delays_cap ? 2 * self->delays_cap : 1 << 16;
        int64_t *delays = PyMem_Realloc(self->delays, cap * sizeof(int64_t));
        if (delays == NULL) return -1;
        self->delays = delays;
        self->delays_cap = cap;
    }
    self->delays[self->ndelays++] = us;
    return 0;
}

/* Count one decrypted RTP packet by its stamp; -1 on memory error. */
static int count(Reader *self, Sub *sub, const unsigned char *p, int len) {
    if (len < 12 + STAMP_SIZE || be32(p + len - STAMP_SIZE) != MAGIC) {
        self->unstamped++;
        return 0;
    }
    const unsigned char *s = p + len - STAMP_SIZE;
    uint32_t stream = be32(s + 4);
    int64_t sent = (int64_t)(((uint64_t)be32(s + 12) << 32) | be32(s + 16));
    if (stream >= MAX_STREAM) {
        self->unstamped++;
        return 0;
    }
    if (stream >= sub->size && grow(sub, stream) < 0) return -1;
    sub->counts[stream]++;
    self->packets++;
    if (self->t0 <= sent && sent < self->t1) {
        sub->window[stream]++;
        return add_delay(self, (now_ns() - sent) / 1000);
    }
    return 0;
}

static PyObject *address(const struct sockaddr_storage *ss) {
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        return Py_BuildValue("(si)", host, ntohs(a->sin_port));
    }
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    return Py_BuildValue("(si)", host, ntohs(a->sin6_port));
}

/* Read every ready socket; return [(subscriber, datagram, address)] of what Python must handle. */
static PyObject *Reader_drain(Reader *self, PyObject *unused) {
    PyObject *back = PyList_New(0);
    if (back == NULL) return NULL;
    struct epoll_event events[EVENTS];
    int ready = epoll_wait(self->epfd, events, EVENTS, 0);
    self->drains++;
    for (int e = 0; e < ready; e++) {
        Py_ssize_t index = (Py_ssize_t)events[e].data.u64;
        Sub *sub = &self->subs[index];
        for (int round = 0; round < ROUNDS && sub->fd >= 0; round++) {
            for (int i = 0; i < BATCH; i++) {
                self->msgs[i].msg_hdr.msg_name = &self->addrs[i];
                self->msgs[i].msg_hdr.msg_namelen = sizeof self->addrs[i];
            }
            int n = recvmmsg(sub->fd, self->msgs, BATCH, MSG_DONTWAIT, NULL);
            if (n <= 0) break; /* EAGAIN, or an ICMP error that the next read clears */
            for (int i = 0; i < n; i++) {
                unsigned char *p = self->bufs[i];
                int len = (int)self->msgs[i].msg_len;
                if (len >= 12 && p[0] > 127 && p[0] < 192 && !(p[1] > 191 && p[1] < 224)) {
                    if (self->unprotect(sub->srtp, p, &len) != 0) {
                        self->rejected++;
                    } else if (count(self, sub, p, len) < 0) {
                        Py_DECREF(back);
                        return PyErr_NoMemory();
                    }
                    continue;
                }
                /* STUN, DTLS, SRTCP: aioice's and aiortc's own path */
                PyObject *item = Py_BuildValue("(ny#N)", index, (const char *)p, (Py_ssize_t)len,
                                               address(&self->addrs[i]));
                if (item == NULL || PyList_Append(back, item) < 0) {
                    Py_XDECREF(item);
                    Py_DECREF(back);
                    return NULL;
                }
                Py_DECREF(item);
                self->handed_back++;
            }
            if (n < BATCH) break;
        }
    }
    return back;
}

static PyObject *counts_dict(const uint64_t *counts, uint32_t size) {
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    for (uint32_t s = 0; s < size; s++) {
        if (!counts[s]) continue;
        PyObject *k = PyLong_FromUnsignedLong(s), *v = PyLong_FromUnsignedLongLong(counts[s]);
        if (k == NULL || v == NULL || PyDict_SetItem(d, k, v) < 0) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    return d;
}

static PyObject *Reader_counts(Reader *self, PyObject *arg) {
    Sub *sub = sub_at(self, arg);
    return sub == NULL ? NULL : counts_dict(sub->counts, sub->size);
}

static PyObject *Reader_window_counts(Reader *self, PyObject *arg) {
    Sub *sub = sub_at(self, arg);
    return sub == NULL ? NULL : counts_dict(sub->window, sub->size);
}

static PyObject *Reader_delays(Reader *self, PyObject *unused) {
    return PyBytes_FromStringAndSize((const char *)self->delays, (Py_ssize_t)(self->ndelays * sizeof(int64_t)));
}

static PyObject *Reader_stats(Reader *self, PyObject *unused) {
    return Py_BuildValue("{sKsKsKsKsK}", "packets", self->packets, "rejected", self->rejected, "unstamped",
                         self->unstamped, "handed_back", self->handed_back, "drains", self->drains);
}

static PyMethodDef Reader_methods[] = {
    {"fileno", (PyCFunction)Reader_fileno, METH_NOARGS, "Return the epoll fd, for loop.add_reader."},
    {"add", (PyCFunction)Reader_add, METH_VARARGS, "Watch a socket fd with an srtp_t address; return its index."},
    {"remove", (PyCFunction)Reader_remove, METH_O, "Stop watching a subscriber's socket."},
    {"set_window", (PyCFunction)Reader_set_window, METH_VARARGS, "Set the window of send times, in ns."},
    {"drain", (PyCFunction)Reader_drain, METH_NOARGS, "Read ready sockets; return what is not SRTP."},
    {"counts", (PyCFunction)Reader_counts, METH_O, "Return a subscriber's packets by stream."},
    {"window_counts", (PyCFunction)Reader_window_counts, METH_O, "Return its packets sent in the window."},
    {"delays", (PyCFunction)Reader_delays, METH_NOARGS, "Return the window's delays in µs, int64s."},
    {"stats", (PyCFunction)Reader_stats, METH_NOARGS, "Return the reader's counters."},
    {NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "bench.media._genfast.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Subscribers' sockets drained, unprotected and counted in C.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Reader_init,
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_methods = Reader_methods,
};

/* ---------------------------------------------------------------- Sender */

typedef struct {
    int fd;
    void *srtp;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t ssrc, stream, ts;
    uint16_t seq;
    uint8_t pt;
    double rate;        /* packets per second */
    long long scheduled; /* packets due so far, sent or not */
} Out;

typedef struct {
    PyObject_HEAD
    srtp_fn protect;
    Out *outs;
    Py_ssize_t nouts, cap;
    int64_t t0, t1;
    int gso; /* UDP_SEGMENT works: one send for a batch of equal datagrams */
    unsigned long long sent, in_window, failed, late;
    struct mmsghdr msgs[GSO_SEGMENTS];
    struct iovec iov[GSO_SEGMENTS];
    unsigned char buf[GSO_SEGMENTS * BUF];
} Sender;

static int Sender_init(Sender *self, PyObject *args, PyObject *kwds) {
    unsigned long long protect;
    if (!PyArg_ParseTuple(args, "K", &protect)) return -1;
    self->protect = (srtp_fn)(uintptr_t)protect;
    self->t0 = self->t1 = INT64_MAX;
    self->gso = 1;
    for (int i = 0; i < GSO_SEGMENTS; i++) {
        self->msgs[i].msg_hdr.msg_iov = &self->iov[i];
        self->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    return 0;
}

static void Sender_dealloc(Sender *self) {
    PyMem_Free(self->outs);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Sender_add(Sender *self, PyObject *args) {
    int fd, port, pt;
    unsigned long long srtp;
    unsigned int ssrc, stream;
    double rate;
    const char *host;
    if (!PyArg_ParseTuple(args, "iKsiIiId", &fd, &srtp, &host, &port, &ssrc, &pt, &stream, &rate)) return NULL;
    Out out = {
        .fd = fd, .srtp = (void *)(uintptr_t)srtp, .ssrc = ssrc, .stream = stream, .pt = (uint8_t)pt, .rate = rate};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&out.addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out.addr;
    if (host[0] == '\0') {
        out.addrlen = 0; /* a connected socket: sent without an address */
    } else if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        out.addrlen = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        out.addrlen = sizeof *a6;
    } else {
        PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
        return NULL;
    }
    if (self->nouts == self->cap) {
        Py_ssize_t cap = self->cap ? 2 * self->cap : 32;
        Out *outs = PyMem_Realloc(self->outs, cap * sizeof(Out));
        if (outs == NULL) return PyErr_NoMemory();
        self->outs = outs;
        self->cap = cap;
    }
    self->outs[self->nouts] = out;
    return PyLong_FromSsize_t(self->nouts++);
}

static PyObject *Sender_set_window(Sender *self, PyObject *args) {
    long long t0, t1;
    if (!PyArg_ParseTuple(args, "LL", &t0, &t1)) return NULL;
    self->t0 = t0;
    self->t1 = t1;
    Py_RETURN_NONE;
}

/* The bench stamp (packets.STAMP): magic, stream, sequence number, send time in ns. */
static void put_stamp(unsigned char *s, uint32_t stream, uint32_t seq, int64_t t) {
    put32(s, MAGIC);
    put32(s + 4, stream);
    put32(s + 8, seq);
    put64(s + 12, (uint64_t)t);
}

/* Send k protected datagrams of size bytes each, laid end to end in self->buf; return how many went. */
static int send_batch(Sender *self, Out *out, int k, int size) {
    if (self->gso && k > 1) {
        char control[CMSG_SPACE(sizeof(uint16_t))] = {0};
        struct iovec iov = {.iov_base = self->buf, .iov_len = (size_t)k * size};
        struct msghdr msg = {
            .msg_name = &out->addr,
            .msg_namelen = out->addrlen,
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control,
            .msg_controllen = sizeof control,
        };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t segment = (uint16_t)size;
        memcpy(CMSG_DATA(cm), &segment, sizeof segment);
        if (sendmsg(out->fd, &msg, MSG_DONTWAIT) >= 0) return k;
        if (errno == EAGAIN || errno == ENOBUFS) return 0;
        self->gso = 0; /* no UDP GSO here: one datagram per message from now on */
    }
    for (int i = 0; i < k; i++) {
        self->iov[i].iov_base = self->buf + (size_t)i * size;
        self->iov[i].iov_len = (size_t)size;
        self->msgs[i].msg_hdr.msg_name = &out->addr;
        self->msgs[i].msg_hdr.msg_namelen = out->addrlen;
    }
    int n = sendmmsg(out->fd, self->msgs, k, MSG_DONTWAIT);
    return n < 0 ? 0 : n;
}

/* Send count stamped packets to one peer. */
static void send_out(Sender *self, Out *out, long long count) {
    long long done = 0;
    while (done < count) {
        int k = 0, size = 0;
        int64_t t = 0;
        /* every packet has the same size, so that a batch is one GSO send */
        while (k < GSO_SEGMENTS && done < count) {
            unsigned char *p = self->buf + (size_t)k * size;
            done++;
            out->seq++;
            out->ts += 3000;
            p[0] = 0x80;
            p[1] = out->pt;
            p[2] = out->seq >> 8;
            p[3] = out->seq & 0xFF;
            put32(p + 4, out->ts);
            put32(p + 8, out->ssrc);
            /* the body's bytes are whatever the buffer held: only the stamp is read */
            t = now_ns();
            put_stamp(p + 12 + BODY, out->stream, out->seq, t);
            int len = 12 + BODY + STAMP_SIZE;
            if (self->protect(out->srtp, p, &len) != 0 || (size && len != size)) {
                self->failed++;
                continue;
            }
            size = len;
            k++;
        }
        if (k == 0) continue;
        int n = send_batch(self, out, k, size);
        self->failed += k - n;
        self->sent += n;
        /* a batch is stamped within microseconds: count it by its last stamp */
        if (self->t0 <= t && t < self->t1) self->in_window += n;
        if (n < k) break; /* the socket's buffer is full: the rest of this burst is not sent */
    }
}

/* Send one frame of a publisher's stream: a packet per payload, the marker bit on the last, each
 * with a fresh header (b0, the peer's payload type, the next sequence number, ts, its SSRC), the
 * header extension bytes ext, the payload (a VP8 payload's picture ID set to picture_id when it is
 * 0 or more) and the bench stamp with the send time; protected and sent with sendmmsg(). Returns
 * how many were sent with a stamp in [t0, t1). */
static PyObject *Sender_frame(Sender *self, PyObject *args) {
    Py_ssize_t index;
    int b0, picture_id;
    unsigned int ts;
    Py_buffer ext;
    PyObject *payloads;
    long long t0, t1;
    if (!PyArg_ParseTuple(args, "niIy*O!iLL", &index, &b0, &ts, &ext, &PyList_Type, &payloads, &picture_id, &t0, &t1))
        return NULL;
    if (index < 0 || index >= self->nouts) {
        PyBuffer_Release(&ext);
        PyErr_SetString(PyExc_IndexError, "no such peer");
        return NULL;
    }
    Out *out = &self->outs[index];
    Py_ssize_t count = PyList_GET_SIZE(payloads);
    long long in_window = 0;
    Py_ssize_t done = 0;
    while (done < count) {
        int k = 0;
        int64_t t = 0;
        while (k < GSO_SEGMENTS && done < count) {
            PyObject *item = PyList_GET_ITEM(payloads, done);
            int last = done == count - 1;
            done++;
            char *data;
            Py_ssize_t size;
            if (PyBytes_AsStringAndSize(item, &data, &size) < 0) {
                PyBuffer_Release(&ext);
                return NULL;
            }
            int len = 12 + (int)ext.len + (int)size + STAMP_SIZE;
            if (len + SRTP_TRAILER > BUF) {
                self->failed++;
                continue;
            }
            unsigned char *p = self->buf + (size_t)k * BUF;
            out->seq++;
            p[0] = (unsigned char)b0;
            p[1] = (unsigned char)(out->pt | (last ? 0x80 : 0));
            p[2] = out->seq >> 8;
            p[3] = out->seq & 0xFF;
            put32(p + 4, ts);
            put32(p + 8, out->ssrc);
            memcpy(p + 12, ext.buf, (size_t)ext.len);
            unsigned char *body = p + 12 + ext.len;
            memcpy(body, data, (size_t)size);
            if (picture_id >= 0 && size >= 4) {
                body[2] = (unsigned char)(0x80 | ((picture_id >> 8) & 0x7F));
                body[3] = (unsigned char)(picture_id & 0xFF);
            }
            t = now_ns();
            put_stamp(body + size, out->stream, out->seq, t);
            if (self->protect(out->srtp, p, &len) != 0) {
                self->failed++;
                continue;
            }
            self->iov[k].iov_base = p;
            self->iov[k].iov_len = (size_t)len;
            self->msgs[k].msg_hdr.msg_name = out->addrlen ? &out->addr : NULL;
            self->msgs[k].msg_hdr.msg_namelen = out->addrlen;
            k++;
        }
        if (k == 0) continue;
        int n = sendmmsg(out->fd, self->msgs, k, MSG_DONTWAIT);
        if (n < 0) n = 0;
        self->failed += k - n;
        self->sent += n;
        if (t0 <= t && t < t1) in_window += n;
    }
    PyBuffer_Release(&ext);
    return PyLong_FromLongLong(in_window);
}

/* Send every peer what its rate makes due after elapsed seconds; never more than 60 ms' worth. */
static PyObject *Sender_tick(Sender *self, PyObject *arg) {
    double elapsed = PyFloat_AsDouble(arg);
    if (elapsed == -1.0 && PyErr_Occurred()) return NULL;
    for (Py_ssize_t i = 0; i < self->nouts; i++) {
        Out *out = &self->outs[i];
        long long due = (long long)(elapsed * out->rate);
        long long count = due - out->scheduled;
        long long most = (long long)(out->rate * 0.06) + 1;
        out->scheduled = due;
        if (count > most) {
            self->late += count - most;
            count = most;
        }
        if (count > 0) send_out(self, out, count);
    }
    Py_RETURN_NONE;
}

static PyObject *Sender_stats(Sender *self, PyObject *unused) {
    return Py_BuildValue("{sKsKsKsK}", "sent", self->sent, "in_window", self->in_window, "failed", self->failed,
                         "late", self->late);
}

static PyMethodDef Sender_methods[] = {
    {"add", (PyCFunction)Sender_add, METH_VARARGS,
     "Add a peer: (fd, srtp_t address, host, port, ssrc, pt, stream id, pkt/s); return its index."},
    {"set_window", (PyCFunction)Sender_set_window, METH_VARARGS, "Set the window of send times, in ns."},
    {"tick", (PyCFunction)Sender_tick, METH_O, "Send what is due after this many seconds of sending."},
    {"frame", (PyCFunction)Sender_frame, METH_VARARGS,
     "Send a frame: (peer, b0, ts, ext, payloads, picture_id or -1, t0, t1); return how many were sent in the window."},
    {"stats", (PyCFunction)Sender_stats, METH_NOARGS, "Return the sender's counters."},
    {NULL},
};

static PyTypeObject SenderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "bench.media._genfast.Sender",
    .tp_basicsize = sizeof(Sender),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Stamped packets protected and sent in batches, in C.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sender_init,
    .tp_dealloc = (destructor)Sender_dealloc,
    .tp_methods = Sender_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "bench.media._genfast",
    .m_doc = "The load generator's receive and echo-send paths in C.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__genfast(void) {
    if (PyType_Ready(&ReaderType) < 0 || PyType_Ready(&SenderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Reader", (PyObject *)&ReaderType) < 0 ||
        PyModule_AddObjectRef(m, "Sender", (PyObject *)&SenderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
