/*
 * The forwarder's per-subscriber loop in C: media_server/forwarding/slot.py's pure-Python PySlot.forward
 * and Output.send, without an interpreter round trip per subscriber.
 *
 * For each incoming RTP packet, fanout() walks a track's slots once and, per slot: maps the
 * payload type, rewrites sequence number and timestamp with the slot's offsets, keeps the packet
 * in the slot's retransmission ring (a reference to the shared payload, no copy), writes the
 * 12-byte header and the payload into one buffer, protects it with the subscriber's libsrtp
 * session and sends it with one send() on a socket connected to the subscriber (or sendto() on
 * its ICE socket). fanout_burst() does the same for the packets of one track that a socket read
 * brought in together, slot after slot, and sends a slot's run as one segmented datagram (UDP GSO).
 *
 * Nothing here owns connection state. A slot's output is a Python object; when it has a
 * native_target() method, the slot asks it once for (keepalive, srtp_t address, fd, address,
 * nominated pairs, pair) and keeps the keepalive (what owns the srtp_t and the descriptor), the
 * dict and the pair alive. An address of None means the descriptor is connected. Before each send
 * the slot checks that ICE's nominated pair is still the one it bound to (one dict lookup); when
 * it changed (ICE restart, close: aioice clears the dict before closing sockets) it asks again.
 * Outputs without native_target() (tests' recorders) get output.send(...) called from here.
 *
 * libsrtp is the copy inside pylibsrtp (statically linked into its _binding module, which
 * exports libsrtp's symbols): the sessions' srtp_t come from it, so srtp_protect must be its own.
 * bind_libsrtp() finds that library among those already loaded, reads its srtp_get_version()
 * and takes srtp_protect only from a libsrtp whose srtp_protect has the signature compiled here
 * (libsrtp 2.x; 3.0 changed it): another one is refused with an error, never called. Until a
 * library is bound, slots send through output.send() (Python, cffi-checked).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define HISTORY 512 /* a power of two, as RetransmissionBuffer's default */
#define MAX_PLAIN (1500 - 16) /* pylibsrtp's buffer size less SRTP_MAX_TRAILER_LEN */
#define NO_PT 0xFF

/* libsrtp 2.x: srtp_err_status_t srtp_protect(srtp_t ctx, void *rtp_hdr, int *len_ptr) */
typedef int (*protect_fn)(void *ctx, void *rtp, int *len);
typedef unsigned int (*version_fn)(void);
#define LIBSRTP_MAJOR 2

static protect_fn srtp_protect_ptr = NULL;
static protect_fn srtp_unprotect_ptr = NULL; /* the same signature in libsrtp 2 */
static unsigned int libsrtp_bound = 0; /* srtp_get_version() of the bound library, 0: none */
static PyObject *one = NULL; /* the key of aioice's nominated pair for component 1 */
static PyObject *str_send = NULL;
static PyObject *str_native_target = NULL;

/* one packet at a time: the module runs under the GIL on one event loop */
static unsigned char buffer[1500 + 64] __attribute__((aligned(16)));

/* A burst: the packets of one track that a publisher socket's read brought in together (a video
 * frame), sent to one subscriber as one segmented datagram (UDP GSO, Linux 4.18+): one system
 * call and one trip down the stack instead of one per packet. The kernel cuts it into datagrams
 * of gso bytes, the last one shorter or equal, so a run ends at a size change. */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define BURST_PACKETS 64  /* the kernel's limit on segments */
#define BURST_BYTES 65000 /* a UDP datagram's */
#define GSO_MAX 1232      /* larger segments go one by one: no local link refuses this size */
typedef struct {
    size_t used; /* bytes in burst_buffer */
    int count;
    int gso; /* the size of every segment but the last */
    int closed; /* the last, shorter segment is in */
    int checked; /* the slot's pair was checked for this burst: no Python runs until it ends */
} Burst;
static unsigned char burst_buffer[BURST_BYTES + 1500 + 64] __attribute__((aligned(16)));
/* set when the kernel refused a segmented send (no GSO, or a device without checksum offload) */
static int gso_off = 0;
static long long gso_sends = 0;   /* segmented datagrams sent, for tests and benchmarks */
static long long gso_packets = 0; /* the packets they carried */

enum { OUT_NONE, OUT_PYTHON, OUT_NATIVE };

/* the packets a slot keeps for retransmission, indexed by output sequence number */
typedef struct {
    PyObject *payload[HISTORY]; /* the shared payloads, not copies */
    int32_t seq[HISTORY];       /* -1: empty */
    uint32_t ts[HISTORY];
    uint16_t flags[HISTORY]; /* the first two header bytes */
} Ring;

typedef struct {
    PyObject_HEAD
    /* the rewriter's state, exposed to Python as attributes */
    int seq_offset;
    int start_seq;
    int last_seq;
    unsigned int ts_offset;
    unsigned int last_ts;
    unsigned int ssrc;
    long long last_ms;
    long long packets;
    unsigned char pt_map[128]; /* publisher payload type -> subscriber one, or NO_PT */
    int abs_send_time_id;      /* negotiated id of abs-send-time, 0 when not sent */
    /* where packets go */
    PyObject *output;
    int out_kind;
    int bound;
    PyObject *session; /* keeps the pylibsrtp Session (the srtp_t) and the socket alive */
    void *srtp;
    int fd;
    PyObject *nominated;
    PyObject *pair;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    /* the retransmission ring: allocated by the first packet a slot keeps, freed when cleared,
     * so that idle slots (most of a subscriber's) and audio slots (no NACK for Opus) cost nothing */
    int keep_history;
    Ring *ring;
} SlotCore;

static void unbind(SlotCore *s)
{
    s->bound = 0;
    s->srtp = NULL;
    s->fd = -1;
    Py_CLEAR(s->session);
    Py_CLEAR(s->nominated);
    Py_CLEAR(s->pair);
}

static PyObject *SlotCore_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    SlotCore *s = (SlotCore *)type->tp_alloc(type, 0);
    if (s == NULL)
        return NULL;
    memset(s->pt_map, NO_PT, sizeof(s->pt_map));
    s->keep_history = 1;
    s->fd = -1;
    s->last_ms = -1;
    s->last_seq = 0xFFFF;
    s->out_kind = OUT_NONE;
    return (PyObject *)s;
}

static int SlotCore_traverse(SlotCore *s, visitproc visit, void *arg)
{
    Py_VISIT(s->output);
    Py_VISIT(s->session);
    Py_VISIT(s->nominated);
    Py_VISIT(s->pair);
    return 0;
}

static void clear_history(SlotCore *s)
{
    Ring *ring = s->ring;
    if (ring == NULL)
        return;
    s->ring = NULL;
    for (int i = 0; i < HISTORY; i++)
        Py_CLEAR(ring->payload[i]);
    PyMem_Free(ring);
}

static Ring *new_ring(void)
{
    Ring *ring = PyMem_Calloc(1, sizeof(Ring));
    if (ring == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (int i = 0; i < HISTORY; i++)
        ring->seq[i] = -1;
    return ring;
}

static int SlotCore_clear(SlotCore *s)
{
    unbind(s);
    Py_CLEAR(s->output);
    s->out_kind = OUT_NONE;
    clear_history(s);
    return 0;
}

static void SlotCore_dealloc(SlotCore *s)
{
    PyObject_GC_UnTrack(s);
    SlotCore_clear(s);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

/* Ask the output where to send. Returns 1 when bound natively, 0 when the packet should be
 * dropped (not connected yet), 2 when this packet should go through output.send, -1 on error. */
static int rebind(SlotCore *s)
{
    unbind(s);
    if (srtp_protect_ptr == NULL)
        return 2;
    PyObject *target = PyObject_CallMethodNoArgs(s->output, str_native_target);
    if (target == NULL)
        return -1;
    if (target == Py_None) {
        Py_DECREF(target);
        return 0;
    }
    if (target == Py_False) {
        /* only Python can send there: stop asking */
        Py_DECREF(target);
        s->out_kind = OUT_PYTHON;
        return 2;
    }
    PyObject *session, *srtp_addr, *fd, *addr, *nominated, *pair;
    if (!PyArg_ParseTuple(target, "OOOOOO", &session, &srtp_addr, &fd, &addr, &nominated, &pair)) {
        Py_DECREF(target);
        return -1;
    }
    const char *host;
    long port;
    int result = 2;
    if (!PyDict_Check(nominated) || (addr != Py_None && (!PyTuple_Check(addr) || PyTuple_GET_SIZE(addr) < 2 ||
                                                         !PyUnicode_Check(PyTuple_GET_ITEM(addr, 0))))) {
        PyErr_SetString(PyExc_TypeError, "native_target() returned an unexpected tuple");
        result = -1;
        goto done;
    }
    memset(&s->addr, 0, sizeof(s->addr));
    s->addrlen = 0;
    if (addr == Py_None)
        /* a connected socket: send() needs no address, and the kernel keeps the route */
        goto descriptor;
    /* the tuple keeps the string alive while host is used */
    host = PyUnicode_AsUTF8(PyTuple_GET_ITEM(addr, 0));
    port = PyLong_AsLong(PyTuple_GET_ITEM(addr, 1));
    if (host == NULL || PyErr_Occurred()) {
        result = -1;
        goto done;
    }
    if (port < 0 || port > 65535)
        goto done;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&s->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&s->addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        s->addrlen = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        s->addrlen = sizeof(*v6);
    } else {
        /* a scoped IPv6 address or a name: leave it to Python's socket module */
        goto done;
    }
descriptor:
    s->srtp = PyLong_AsVoidPtr(srtp_addr);
    s->fd = (int)PyLong_AsLong(fd);
    if (PyErr_Occurred()) {
        result = -1;
        goto done;
    }
    if (s->srtp == NULL || s->fd < 0)
        goto done;
    Py_INCREF(session);
    s->session = session;
    Py_INCREF(nominated);
    s->nominated = nominated;
    Py_INCREF(pair);
    s->pair = pair;
    s->bound = 1;
    result = 1;
done:
    Py_DECREF(target);
    if (result == -1)
        unbind(s);
    return result;
}

/* The fixed 12-byte RTP header (no CSRC). */
static void write_header(unsigned char *p, unsigned b0, unsigned b1, unsigned seq, uint32_t ts, uint32_t ssrc)
{
    uint32_t be_ts = htonl(ts), be_ssrc = htonl(ssrc);
    p[0] = (unsigned char)b0;
    p[1] = (unsigned char)b1;
    p[2] = (unsigned char)(seq >> 8);
    p[3] = (unsigned char)seq;
    memcpy(p + 4, &be_ts, 4);
    memcpy(p + 8, &be_ssrc, 4);
}

/* The one-byte-header extension block carrying abs-send-time (RFC 8285; 24-bit 6.18 seconds). */
static void write_abs_send_time(unsigned char *p, int id, uint32_t send_time)
{
    p[0] = 0xBE;
    p[1] = 0xDE;
    p[2] = 0;
    p[3] = 1;
    p[4] = (unsigned char)(id << 4 | 2);
    p[5] = (unsigned char)(send_time >> 16);
    p[6] = (unsigned char)(send_time >> 8);
    p[7] = (unsigned char)send_time;
}

static int send_python(SlotCore *s, unsigned b0, unsigned b1, unsigned seq, uint32_t ts, PyObject *payload,
                       uint32_t send_time)
{
    PyObject *body = payload;
    if (s->abs_send_time_id) {
        Py_ssize_t n = PyBytes_GET_SIZE(payload);
        body = PyBytes_FromStringAndSize(NULL, 8 + n);
        if (body == NULL)
            return -1;
        write_abs_send_time((unsigned char *)PyBytes_AS_STRING(body), s->abs_send_time_id, send_time);
        memcpy(PyBytes_AS_STRING(body) + 8, PyBytes_AS_STRING(payload), (size_t)n);
        b0 |= 0x10;
    } else {
        Py_INCREF(body);
    }
    PyObject *r = PyObject_CallMethod(s->output, "send", "IIIkkO", b0, b1, seq, (unsigned long)ts,
                                      (unsigned long)s->ssrc, body);
    Py_DECREF(body);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* Protect and send one plain RTP packet already in buffer[0:n]. */
static void send_native(SlotCore *s, int n)
{
    int length = n;
    if (srtp_protect_ptr(s->srtp, buffer, &length) != 0)
        return;
    const struct sockaddr *to = s->addrlen ? (struct sockaddr *)&s->addr : NULL;
    if (sendto(s->fd, buffer, (size_t)length, 0, to, s->addrlen) < 0) {
        /* a full send buffer drops the datagram, as the network would; a closed socket means
         * the pair is being replaced: ask again next time */
        if (errno == EBADF || errno == ENOTSOCK)
            unbind(s);
    }
}

static void send_segments(SlotCore *s, const unsigned char *p, size_t used, int gso, int count)
{
    const struct sockaddr *to = s->addrlen ? (struct sockaddr *)&s->addr : NULL;
    for (int k = 0; k < count; k++) {
        size_t size = k < count - 1 ? (size_t)gso : used - (size_t)gso * (size_t)(count - 1);
        if (sendto(s->fd, p + (size_t)gso * (size_t)k, size, 0, to, s->addrlen) < 0 &&
            (errno == EBADF || errno == ENOTSOCK)) {
            unbind(s);
            return;
        }
    }
}

/* Send what the burst holds to the slot's destination, and empty it. */
static void flush(SlotCore *s, Burst *b)
{
    int count = b->count;
    b->count = 0;
    b->closed = 0;
    size_t used = b->used;
    b->used = 0;
    if (count == 0 || !s->bound)
        return;
    if (count == 1 || gso_off || b->gso > GSO_MAX) {
        send_segments(s, burst_buffer, used, b->gso, count);
        return;
    }
    uint16_t gso = (uint16_t)b->gso;
    union {
        char bytes[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct iovec iov = {.iov_base = burst_buffer, .iov_len = used};
    struct msghdr msg = {
        .msg_name = s->addrlen ? &s->addr : NULL,
        .msg_namelen = s->addrlen,
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.bytes,
        .msg_controllen = sizeof(control.bytes),
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
    if (sendmsg(s->fd, &msg, 0) >= 0) {
        gso_sends++;
        gso_packets += count;
        return;
    }
    if (errno == EBADF || errno == ENOTSOCK) {
        unbind(s);
    } else if (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
        /* this kernel or device cannot segment: one datagram at a time from now on */
        gso_off = 1;
        send_segments(s, burst_buffer, used, b->gso, count);
    }
    /* otherwise (a full buffer) the burst is dropped, as the network would */
}

/* Protect the plain packet at burst_buffer + used (n bytes) and add it to the burst; a packet
 * that cannot follow the ones already there (larger, or after the shorter last one) goes after
 * sending them. */
static void add_to_burst(SlotCore *s, Burst *b, int n)
{
    unsigned char *p = burst_buffer + b->used;
    int length = n;
    if (srtp_protect_ptr(s->srtp, p, &length) != 0)
        return;
    if (b->count && (b->closed || length > b->gso)) {
        flush(s, b);
        memmove(burst_buffer, p, (size_t)length);
    }
    if (b->count == 0)
        b->gso = length;
    else if (length < b->gso)
        b->closed = 1;
    b->used += (size_t)length;
    b->count++;
    if (b->count == BURST_PACKETS || b->used + 1500 + 64 > BURST_BYTES || b->gso > GSO_MAX)
        flush(s, b);
}

/* Make sure the slot is bound to its output's current pair. Same return values as rebind(). */
static inline int ready(SlotCore *s)
{
    if (s->bound) {
        PyObject *pair = PyDict_GetItemWithError(s->nominated, one);
        if (pair == s->pair)
            return 1;
        if (pair == NULL && PyErr_Occurred())
            return -1;
    }
    return rebind(s);
}

/* Rewrite, keep and send (or add to the burst, when there is one) one packet. */
static int forward_one(SlotCore *s, unsigned b0, unsigned b1, unsigned seq, uint32_t ts, PyObject *payload,
                       long long arrival_ms, uint32_t send_time, Burst *burst)
{
    unsigned pt = s->pt_map[b1 & 0x7F];
    if (pt == NO_PT || s->out_kind == OUT_NONE)
        return 0;
    unsigned d = (seq - (unsigned)s->start_seq) & 0xFFFF;
    if (d >= 0x8000)
        return 0; /* sent before the switch to this track */
    if (d > 0x4000)
        s->start_seq = (int)((seq - 0x2000) & 0xFFFF);
    unsigned out_seq = (seq + (unsigned)s->seq_offset) & 0xFFFF;
    uint32_t out_ts = ts + s->ts_offset;
    if (((out_seq - (unsigned)s->last_seq) & 0xFFFF) < 0x8000) {
        s->last_seq = (int)out_seq;
        s->last_ts = out_ts;
        s->last_ms = arrival_ms;
    }
    b1 = (b1 & 0x80) | pt;
    if (s->keep_history) {
        if (s->ring == NULL && (s->ring = new_ring()) == NULL)
            return -1;
        Ring *ring = s->ring;
        unsigned i = out_seq & (HISTORY - 1);
        Py_INCREF(payload);
        Py_XSETREF(ring->payload[i], payload);
        ring->seq[i] = (int32_t)out_seq;
        ring->ts[i] = out_ts;
        ring->flags[i] = (uint16_t)(b0 << 8 | b1);
    }

    if (s->out_kind == OUT_NATIVE) {
        int state = burst != NULL && burst->checked && s->bound ? 1 : ready(s);
        if (state < 0)
            return -1;
        if (state == 1) {
            if (burst != NULL)
                burst->checked = 1;
            Py_ssize_t head = s->abs_send_time_id ? 20 : 12;
            Py_ssize_t n = head + PyBytes_GET_SIZE(payload);
            if (n <= MAX_PLAIN) {
                unsigned char *p = burst != NULL ? burst_buffer + burst->used : buffer;
                write_header(p, s->abs_send_time_id ? b0 | 0x10 : b0, b1, out_seq, out_ts, s->ssrc);
                if (s->abs_send_time_id)
                    write_abs_send_time(p + 12, s->abs_send_time_id, send_time);
                memcpy(p + head, PyBytes_AS_STRING(payload), (size_t)(n - head));
                if (burst != NULL)
                    add_to_burst(s, burst, (int)n);
                else
                    send_native(s, (int)n);
            }
        } else if (state == 2) {
            if (burst != NULL)
                flush(s, burst);
            if (send_python(s, b0, b1, out_seq, out_ts, payload, send_time) < 0)
                return -1;
        }
    } else if (send_python(s, b0, b1, out_seq, out_ts, payload, send_time) < 0) {
        return -1;
    }
    s->packets++;
    return 0;
}

static PyTypeObject SlotCoreType;

typedef struct {
    unsigned b0, b1, seq;
    uint32_t ts;
    PyObject *payload; /* borrowed */
    long long arrival_ms;
    uint32_t send_time;
} Packet;

/* Read a packet from its seven fields (b0, b1, seq, ts, payload, arrival_ms, send_time), as
 * fanout() takes them as arguments and fanout_burst() as tuples. Returns -1 with an exception. */
static int read_packet(PyObject *const *f, Packet *p)
{
    if (!PyBytes_Check(f[4])) {
        PyErr_SetString(PyExc_TypeError, "a packet's payload must be bytes");
        return -1;
    }
    p->b0 = (unsigned)(PyLong_AsUnsignedLongMask(f[0]) & 0xFF);
    p->b1 = (unsigned)(PyLong_AsUnsignedLongMask(f[1]) & 0xFF);
    p->seq = (unsigned)(PyLong_AsUnsignedLongMask(f[2]) & 0xFFFF);
    p->ts = (uint32_t)PyLong_AsUnsignedLongMask(f[3]);
    p->payload = f[4];
    p->arrival_ms = PyLong_AsLongLong(f[5]);
    p->send_time = (uint32_t)(PyLong_AsUnsignedLongMask(f[6]) & 0xFFFFFF);
    return PyErr_Occurred() ? -1 : 0;
}

/* The slot at index k of the list, or NULL with a TypeError naming the caller. */
static SlotCore *slot_at(PyObject *slots, Py_ssize_t k, const char *caller)
{
    PyObject *item = PyList_GET_ITEM(slots, k);
    if (!PyObject_TypeCheck(item, &SlotCoreType)) {
        PyErr_Format(PyExc_TypeError, "%s() slots must be SlotCore instances", caller);
        return NULL;
    }
    return (SlotCore *)item;
}

PyDoc_STRVAR(fanout_doc, "fanout(slots, b0, b1, seq, ts, payload, arrival_ms, send_time)\n--\n\n"
                         "Rewrite, keep and send one packet to every slot of the list; send_time is the\n"
                         "24-bit abs-send-time written for slots that negotiated it.");

static PyObject *fanout(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "fanout() takes 8 arguments");
        return NULL;
    }
    PyObject *slots = args[0];
    if (!PyList_Check(slots)) {
        PyErr_SetString(PyExc_TypeError, "fanout() needs a list of slots");
        return NULL;
    }
    Packet p;
    if (read_packet(args + 1, &p) < 0)
        return NULL;
    /* the list may change under a Python output's send(): index it afresh each time */
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(slots); k++) {
        SlotCore *s = slot_at(slots, k, "fanout");
        if (s == NULL)
            return NULL;
        Py_INCREF(s);
        int rc = forward_one(s, p.b0, p.b1, p.seq, p.ts, p.payload, p.arrival_ms, p.send_time, NULL);
        Py_DECREF(s);
        if (rc < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}


/* Forward count packets of one track slot after slot, each slot's run as one burst. */
static int burst_to_slots(PyObject *slots, Packet *packets, Py_ssize_t count, const char *caller)
{
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(slots); k++) {
        SlotCore *s = slot_at(slots, k, caller);
        if (s == NULL)
            return -1;
        Burst burst = {0};
        Py_INCREF(s);
        int rc = 0;
        for (Py_ssize_t i = 0; i < count && rc == 0; i++) {
            Packet *p = &packets[i];
            rc = forward_one(s, p->b0, p->b1, p->seq, p->ts, p->payload, p->arrival_ms, p->send_time, &burst);
        }
        flush(s, &burst);
        Py_DECREF(s);
        if (rc < 0)
            return -1;
    }
    return 0;
}

PyDoc_STRVAR(fanout_burst_doc,
             "fanout_burst(slots, packets)\n--\n\n"
             "Forward packets of one track, each a tuple (b0, b1, seq, ts, payload, arrival_ms,\n"
             "send_time) as fanout() takes them, slot after slot: a slot's packets leave as one\n"
             "segmented datagram where the kernel allows it.");

static PyObject *fanout_burst(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "fanout_burst() takes a list of slots and a list of packets");
        return NULL;
    }
    PyObject *slots = args[0];
    /* a copy: a Python output's send() may change the caller's list */
    PyObject *list = PyList_GetSlice(args[1], 0, PyList_GET_SIZE(args[1]));
    if (list == NULL)
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t total = PyList_GET_SIZE(list);
    Packet packets[BURST_PACKETS];
    for (Py_ssize_t first = 0; first < total; first += BURST_PACKETS) {
        Py_ssize_t count = total - first < BURST_PACKETS ? total - first : BURST_PACKETS;
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *t = PyList_GET_ITEM(list, first + i);
            if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 7) {
                PyErr_SetString(PyExc_TypeError, "fanout_burst() packets are (b0, b1, seq, ts, payload, "
                                                 "arrival_ms, send_time) tuples");
                goto done;
            }
            if (read_packet(&PyTuple_GET_ITEM(t, 0), &packets[i]) < 0)
                goto done;
        }
        if (burst_to_slots(slots, packets, count, "fanout_burst") < 0)
            goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    Py_DECREF(list);
    return result;
}

static PyObject *gso_state(PyObject *module, PyObject *unused)
{
    return Py_BuildValue("(OLL)", gso_off ? Py_False : Py_True, gso_sends, gso_packets);
}

static PyObject *set_gso(PyObject *module, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    gso_off = !on;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(history_get_doc, "history_get(seq)\n--\n\n"
                              "Return the whole rewritten packet with this output sequence number, if still kept.");

static PyObject *SlotCore_history_get(SlotCore *s, PyObject *arg)
{
    long seq = PyLong_AsLong(arg);
    if (seq == -1 && PyErr_Occurred())
        return NULL;
    Ring *ring = s->ring;
    if (ring == NULL)
        Py_RETURN_NONE;
    unsigned i = (unsigned)seq & (HISTORY - 1);
    PyObject *payload = ring->payload[i];
    if (payload == NULL || ring->seq[i] != seq)
        Py_RETURN_NONE;
    Py_ssize_t n = PyBytes_GET_SIZE(payload);
    PyObject *packet = PyBytes_FromStringAndSize(NULL, 12 + n);
    if (packet == NULL)
        return NULL;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(packet);
    uint16_t flags = ring->flags[i];
    write_header(p, flags >> 8, flags & 0xFF, (unsigned)seq, ring->ts[i], s->ssrc);
    memcpy(p + 12, PyBytes_AS_STRING(payload), (size_t)n);
    return packet;
}

static PyObject *SlotCore_history_clear(SlotCore *s, PyObject *unused)
{
    clear_history(s);
    Py_RETURN_NONE;
}

static PyObject *SlotCore_unbind(SlotCore *s, PyObject *unused)
{
    unbind(s);
    Py_RETURN_NONE;
}

static PyObject *SlotCore_get_bound(SlotCore *s, void *closure)
{
    return PyBool_FromLong(s->bound);
}

static PyObject *SlotCore_get_output(SlotCore *s, void *closure)
{
    if (s->output == NULL)
        Py_RETURN_NONE;
    Py_INCREF(s->output);
    return s->output;
}

static int SlotCore_set_output(SlotCore *s, PyObject *value, void *closure)
{
    unbind(s);
    if (value == NULL)
        value = Py_None;
    int kind = OUT_NONE;
    if (value != Py_None) {
        PyObject *method = PyObject_GetAttr(value, str_native_target);
        if (method != NULL) {
            Py_DECREF(method);
            kind = OUT_NATIVE;
        } else if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            kind = OUT_PYTHON;
        } else {
            return -1;
        }
    }
    Py_INCREF(value);
    Py_XSETREF(s->output, value);
    s->out_kind = kind;
    return 0;
}

static PyObject *SlotCore_get_pt_map(SlotCore *s, void *closure)
{
    PyObject *map = PyDict_New();
    if (map == NULL)
        return NULL;
    for (int pt = 0; pt < 128; pt++) {
        if (s->pt_map[pt] == NO_PT)
            continue;
        PyObject *k = PyLong_FromLong(pt), *v = PyLong_FromLong(s->pt_map[pt]);
        int rc = (k && v) ? PyDict_SetItem(map, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (rc < 0) {
            Py_DECREF(map);
            return NULL;
        }
    }
    return map;
}

static int SlotCore_set_pt_map(SlotCore *s, PyObject *value, void *closure)
{
    unsigned char map[128];
    memset(map, NO_PT, sizeof(map));
    if (value != NULL) {
        if (!PyDict_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "pt_map must be a dict");
            return -1;
        }
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        while (PyDict_Next(value, &pos, &k, &v)) {
            long from = PyLong_AsLong(k), to = PyLong_AsLong(v);
            if (PyErr_Occurred())
                return -1;
            if (from < 0 || from > 127 || to < 0 || to > 127) {
                PyErr_SetString(PyExc_ValueError, "payload types are 0-127");
                return -1;
            }
            map[from] = (unsigned char)to;
        }
    }
    memcpy(s->pt_map, map, sizeof(map));
    return 0;
}

static PyObject *SlotCore_get_history_size(SlotCore *s, void *closure)
{
    return PyLong_FromLong(s->keep_history ? HISTORY : 0);
}

static PyMemberDef SlotCore_members[] = {
    {"seq_offset", T_INT, offsetof(SlotCore, seq_offset), 0, NULL},
    {"start_seq", T_INT, offsetof(SlotCore, start_seq), 0, NULL},
    {"last_seq", T_INT, offsetof(SlotCore, last_seq), 0, NULL},
    {"ts_offset", T_UINT, offsetof(SlotCore, ts_offset), 0, NULL},
    {"last_ts", T_UINT, offsetof(SlotCore, last_ts), 0, NULL},
    {"ssrc", T_UINT, offsetof(SlotCore, ssrc), 0, NULL},
    {"last_ms", T_LONGLONG, offsetof(SlotCore, last_ms), 0, NULL},
    {"packets", T_LONGLONG, offsetof(SlotCore, packets), 0, NULL},
    {"abs_send_time_id", T_INT, offsetof(SlotCore, abs_send_time_id), 0, NULL},
    {"keep_history", T_INT, offsetof(SlotCore, keep_history), 0, NULL},
    {NULL},
};

static PyGetSetDef SlotCore_getset[] = {
    {"output", (getter)SlotCore_get_output, (setter)SlotCore_set_output, "Where rewritten packets go.", NULL},
    {"pt_map", (getter)SlotCore_get_pt_map, (setter)SlotCore_set_pt_map,
     "Publisher payload type -> subscriber payload type, for the current track.", NULL},
    {"bound", (getter)SlotCore_get_bound, NULL, "Whether packets go out through C right now.", NULL},
    {"history_size", (getter)SlotCore_get_history_size, NULL, "Packets kept for retransmission.", NULL},
    {NULL},
};

static PyMethodDef SlotCore_methods[] = {
    {"history_get", (PyCFunction)SlotCore_history_get, METH_O, history_get_doc},
    {"history_clear", (PyCFunction)SlotCore_history_clear, METH_NOARGS, "Forget every kept packet, and free the ring."},
    {"unbind", (PyCFunction)SlotCore_unbind, METH_NOARGS, "Ask the output where to send before the next packet."},
    {NULL},
};

static PyTypeObject SlotCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "media_server._fastpath.SlotCore",
    .tp_doc = PyDoc_STR("A subscriber slot's forwarding state, driven by fanout()."),
    .tp_basicsize = sizeof(SlotCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = SlotCore_new,
    .tp_dealloc = (destructor)SlotCore_dealloc,
    .tp_traverse = (traverseproc)SlotCore_traverse,
    .tp_clear = (inquiry)SlotCore_clear,
    .tp_members = SlotCore_members,
    .tp_getset = SlotCore_getset,
    .tp_methods = SlotCore_methods,
};

/* ---------------------------------------------------------------------------------------------
 * The receive path: a publisher's SRTP packets from its ICE sockets to the slots, in C.
 *
 * A Receiver stands for one publish transport (its streams, its libsrtp receive session). The
 * socket's datagram_received becomes receive(fd, fallback, data, addr): it takes the datagram
 * asyncio read and those already queued behind it (one recvmmsg), unprotects each RTP packet
 * with srtp_unprotect, keeps the stream's receive statistics, its in-order NACK state and its
 * audio level, strips the header and holds the payload for the track's slots; at the end each
 * track's packets go out slot after slot as in fanout_burst(). Python is called only for what is
 * not per packet: STUN, DTLS and RTCP (fallback), a new SSRC (route), the SRTP session once
 * (bind), a gap or a reordering (the stream's feedback.nack), a track with slots waiting for a
 * keyframe (track.on_rtp), and the bitrate estimator once per group of packets sent within 5 ms
 * of each other (remb), as aiortc's InterArrival groups them.
 * ------------------------------------------------------------------------------------------- */

#include <time.h>

#define MAX_STREAMS 16     /* a publisher's tracks: microphone, three camera layers, screen */
#define DRAIN 16           /* datagrams read after the one asyncio gave, as publisher.DRAIN */
#define RECV_SIZE 65536    /* as forwarding.READ_SIZE: a datagram is never truncated */
#define MAX_SRTP 1500      /* pylibsrtp's session buffer: larger datagrams go to aiortc */
#define GROUP_UNITS 1311   /* 5 ms in abs-send-time units (2^18 per second), InterArrival's group */

typedef struct {
    uint32_t ssrc;
    PyObject *track;
    PyObject *feedback;
    long long clock_rate;
    int nacks;    /* the stream has a NACK generator */
    int level_id; /* the track's audio level extension id, 0: none */
    int video;    /* fed to the bitrate estimator */
    /* aiortc's StreamStatistics, kept here: Python copies it at the tick (stream_stats) */
    long long received;
    int base_seq; /* -1: none yet */
    int max_seq;
    long long cycles;
    long long jitter_q4;
    long long last_arrival;
    uint32_t last_ts;
    int have_ts;
    long long bytes;
    /* the NACK generator's max_seq while packets come in order; slow: every packet to Python */
    int nack_max;
    int nack_slow;
} Stream;

typedef struct {
    PyObject_HEAD
    PyObject *route;    /* route(packet, arrival_ms): a new SSRC; registers it with add_stream */
    PyObject *bind;     /* bind() -> (keepalive, srtp_t address) once DTLS-SRTP is up, else None */
    PyObject *remb;     /* remb(arrival_ms, abs_send_time, payload_size, ssrc) for each group */
    PyObject *session;  /* keeps the receive Session (its srtp_t) alive */
    void *srtp;
    long long ntp_offset_ms;
    int abs_send_time_id;
    int nstreams;
    Stream streams[MAX_STREAMS];
    /* the group of video packets being summed for the estimator */
    int group_count;
    uint32_t group_first;
    uint32_t group_last;
    long long group_arrival;
    long long group_size;
    uint32_t group_ssrc;
    /* what went where, for tests and the benchmark */
    long long packets;    /* RTP packets unprotected */
    long long to_python;  /* of which handed to Python (route, nack, pending switch) */
} Receiver;

/* A packet held for its track until the end of the read. */
typedef struct {
    PyObject *track; /* owned */
    Packet p;        /* p.payload owned */
} Held;

typedef struct {
    int count;
    Held items[BURST_PACKETS];
} HeldSet;

static PyObject *str_allowed, *str_slots, *str_pending, *str_last_rx_ms, *str_packets, *str_level, *str_on_rtp;

static unsigned char first_buffer[MAX_SRTP + 64] __attribute__((aligned(16)));
static unsigned char drain_buffers[DRAIN][RECV_SIZE] __attribute__((aligned(16)));

static inline int seq_gt(unsigned a, unsigned b)
{
    return a != b && ((a - b) & 0xFFFF) < 0x8000;
}

/* Forward every held packet, track by track, and release them. Returns -1 with an exception. */
static int flush_held(HeldSet *h)
{
    int rc = 0;
    while (h->count) {
        PyObject *track = h->items[0].track;
        Packet packets[BURST_PACKETS];
        int n = 0, rest = 0;
        for (int i = 0; i < h->count; i++) {
            if (h->items[i].track == track)
                packets[n++] = h->items[i].p;
            else
                h->items[rest++] = h->items[i];
        }
        h->count = rest;
        if (rc == 0) {
            PyObject *slots = PyObject_GetAttr(track, str_slots);
            if (slots == NULL)
                rc = -1;
            else if (PyList_Check(slots))
                rc = burst_to_slots(slots, packets, n, "receive");
            Py_XDECREF(slots);
        }
        for (int i = 0; i < n; i++) {
            Py_DECREF(packets[i].payload);
            Py_DECREF(track);
        }
    }
    return rc;
}

/* The value of header extension id (RFC 8285, one- or two-byte form), NULL when absent. */
static const unsigned char *find_ext(const unsigned char *p, int n, int id, int *length)
{
    if (!(p[0] & 0x10) || id == 0)
        return NULL;
    int start = 12 + 4 * (p[0] & 0x0F);
    if (start + 4 > n)
        return NULL;
    unsigned profile = (unsigned)p[start] << 8 | p[start + 1];
    int end = start + 4 + 4 * ((int)p[start + 2] << 8 | p[start + 3]);
    if (end > n)
        return NULL;
    int pos = start + 4;
    if (profile == 0xBEDE) {
        while (pos < end) {
            int byte = p[pos];
            if (byte == 0) {
                pos++;
                continue;
            }
            int x_id = byte >> 4, len = (byte & 0x0F) + 1;
            if (x_id == 15)
                return NULL;
            if (x_id == id) {
                if (pos + 1 + len > n)
                    return NULL;
                *length = len;
                return p + pos + 1;
            }
            pos += 1 + len;
        }
    } else if ((profile & 0xFFF0) == 0x1000) {
        while (pos + 1 < end) {
            int x_id = p[pos];
            if (x_id == 0) {
                pos++;
                continue;
            }
            int len = p[pos + 1];
            if (x_id == id) {
                if (pos + 2 + len > n)
                    return NULL;
                *length = len;
                return p + pos + 2;
            }
            pos += 2 + len;
        }
    }
    return NULL;
}

static Stream *find_stream(Receiver *r, uint32_t ssrc)
{
    for (int i = 0; i < r->nstreams; i++)
        if (r->streams[i].ssrc == ssrc)
            return &r->streams[i];
    return NULL;
}

/* Add one to an int attribute of the track (its packet counter). */
static int increment(PyObject *track, PyObject *name)
{
    PyObject *value = PyObject_GetAttr(track, name);
    if (value == NULL)
        return -1;
    PyObject *more = PyNumber_Add(value, one);
    Py_DECREF(value);
    if (more == NULL)
        return -1;
    int rc = PyObject_SetAttr(track, name, more);
    Py_DECREF(more);
    return rc;
}

static int set_long(PyObject *track, PyObject *name, long long v)
{
    PyObject *value = PyLong_FromLongLong(v);
    if (value == NULL)
        return -1;
    int rc = PyObject_SetAttr(track, name, value);
    Py_DECREF(value);
    return rc;
}

/* Hand the group of video packets summed so far to the bitrate estimator. */
static int flush_group(Receiver *r)
{
    if (r->group_count == 0)
        return 0;
    r->group_count = 0;
    PyObject *result = PyObject_CallFunction(r->remb, "LkLk", r->group_arrival, (unsigned long)r->group_last,
                                             r->group_size, (unsigned long)r->group_ssrc);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* Receive statistics as StreamStatistics.add keeps them. */
static void count(Stream *st, unsigned seq, uint32_t ts, double now)
{
    int in_order = st->max_seq < 0 || seq_gt(seq, (unsigned)st->max_seq);
    st->received++;
    if (st->base_seq < 0)
        st->base_seq = (int)seq;
    if (!in_order)
        return;
    long long arrival = (long long)(now * (double)st->clock_rate);
    if (st->max_seq >= 0 && (int)seq < st->max_seq)
        st->cycles += 1 << 16;
    st->max_seq = (int)seq;
    if (st->have_ts && ts != st->last_ts && st->received > 1) {
        long long diff = (arrival - st->last_arrival) - ((long long)ts - (long long)st->last_ts);
        if (diff < 0)
            diff = -diff;
        st->jitter_q4 += diff - ((st->jitter_q4 + 8) >> 4);
    }
    st->last_arrival = arrival;
    st->last_ts = ts;
    st->have_ts = 1;
}

/* One plain RTP packet of p[0:n]. Returns -1 with an exception. */
static int on_rtp(Receiver *r, unsigned char *p, int n, double now, long long arrival_ms, HeldSet *h)
{
    uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    Stream *st = find_stream(r, ssrc);
    r->packets++;
    if (st == NULL) {
        /* a new SSRC: Python finds its track (by SSRC, payload type or mid) and adds the stream */
        r->to_python++;
        PyObject *result = PyObject_CallFunction(r->route, "y#L", (const char *)p, (Py_ssize_t)n, arrival_ms);
        if (result == NULL)
            return -1;
        Py_DECREF(result);
        if ((st = find_stream(r, ssrc)) == NULL)
            return 0;
    }
    unsigned b0 = p[0], b1 = p[1];
    unsigned seq = (unsigned)p[2] << 8 | p[3];
    uint32_t ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    st->bytes += n;
    count(st, seq, ts, now);
    if (st->nacks) {
        if (!st->nack_slow && st->nack_max >= 0 && seq == (((unsigned)st->nack_max + 1) & 0xFFFF)) {
            st->nack_max = (int)seq;
        } else if (!st->nack_slow && st->nack_max < 0) {
            st->nack_max = (int)seq; /* the generator's first packet */
        } else {
            /* a gap, a late packet, or packets still missing: aiortc's NackGenerator decides */
            r->to_python++;
            PyObject *result = PyObject_CallMethod(st->feedback, "nack", "ii", (int)seq, st->nack_max);
            if (result == NULL)
                return -1;
            int max_seq, slow;
            if (!PyArg_ParseTuple(result, "ip", &max_seq, &slow)) {
                Py_DECREF(result);
                return -1;
            }
            Py_DECREF(result);
            st->nack_max = max_seq;
            st->nack_slow = slow;
        }
    }
    if (st->video && r->abs_send_time_id) {
        int len = 0;
        const unsigned char *v = find_ext(p, n, r->abs_send_time_id, &len);
        if (v != NULL && len == 3) {
            uint32_t ast = (uint32_t)v[0] << 16 | (uint32_t)v[1] << 8 | v[2];
            if (r->group_count && ((ast - r->group_first) & 0xFFFFFF) > GROUP_UNITS && flush_group(r) < 0)
                return -1;
            if (r->group_count == 0) {
                r->group_first = ast;
                r->group_size = 0;
            }
            r->group_count++;
            r->group_last = ast;
            r->group_arrival = arrival_ms;
            r->group_size += n - 12;
            r->group_ssrc = ssrc;
        }
    }

    PyObject *track = st->track;
    PyObject *pending = PyObject_GetAttr(track, str_pending);
    if (pending == NULL)
        return -1;
    int switching = PyList_Check(pending) && PyList_GET_SIZE(pending) > 0;
    Py_DECREF(pending);
    if (switching) {
        /* slots wait for a keyframe of this track: Python's Track.on_rtp switches them, after
         * what this read already holds has gone out */
        r->to_python++;
        if (flush_held(h) < 0)
            return -1;
        PyObject *packet = PyBytes_FromStringAndSize((const char *)p, n);
        PyObject *ms = PyLong_FromLongLong(arrival_ms);
        PyObject *out = packet && ms ? PyObject_CallMethodObjArgs(track, str_on_rtp, packet, ms, NULL) : NULL;
        Py_XDECREF(packet);
        Py_XDECREF(ms);
        Py_XDECREF(out);
        return out == NULL ? -1 : 0;
    }
    if (set_long(track, str_last_rx_ms, arrival_ms) < 0 || increment(track, str_packets) < 0)
        return -1;
    int allowed = 0;
    PyObject *value = PyObject_GetAttr(track, str_allowed);
    if (value == NULL || (allowed = PyObject_IsTrue(value)) < 0) {
        Py_XDECREF(value);
        return -1;
    }
    Py_DECREF(value);
    if (!allowed)
        return 0;
    if ((b0 & 0x10) && st->level_id) {
        int len = 0;
        const unsigned char *v = find_ext(p, n, st->level_id, &len);
        long heard = v != NULL && len > 0 ? (v[0] & 0x7F) : 127;
        PyObject *level = PyObject_GetAttr(track, str_level);
        if (level == NULL)
            return -1;
        long old = PyLong_AsLong(level);
        Py_DECREF(level);
        if (old == -1 && PyErr_Occurred())
            return -1;
        /* smoothed over about four packets (80 ms of audio), as Track.on_rtp does */
        if (set_long(track, str_level, (3 * old + heard) >> 2) < 0)
            return -1;
    }
    PyObject *slots = PyObject_GetAttr(track, str_slots);
    if (slots == NULL)
        return -1;
    int none = !PyList_Check(slots) || PyList_GET_SIZE(slots) == 0;
    Py_DECREF(slots);
    if (none)
        return 0; /* forwarded to nobody (most microphones and cameras of a discussion) */
    int offset = 12 + 4 * (int)(b0 & 0x0F);
    if ((b0 & 0x10) && offset + 4 <= n)
        offset += 4 + 4 * ((int)p[offset + 2] << 8 | p[offset + 3]);
    if (offset > n)
        return 0;
    PyObject *payload = PyBytes_FromStringAndSize((const char *)p + offset, n - offset);
    if (payload == NULL)
        return -1;
    if (h->count == BURST_PACKETS && flush_held(h) < 0) {
        Py_DECREF(payload);
        return -1;
    }
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    Held *held = &h->items[h->count++];
    Py_INCREF(track);
    held->track = track;
    held->p.b0 = 0x80 | (b0 & 0x20); /* the extensions and CSRCs were the publisher's */
    held->p.b1 = b1;
    held->p.seq = seq;
    held->p.ts = ts;
    held->p.payload = payload;
    held->p.arrival_ms = arrival_ms;
    /* abs-send-time: 24 bits of 6.18 seconds */
    held->p.send_time = (uint32_t)(((unsigned long long)t.tv_sec << 18) + (((unsigned long long)t.tv_nsec << 18) / 1000000000ULL)) & 0xFFFFFF;
    return 0;
}

static PyObject *address(const struct sockaddr_storage *name)
{
    char host[INET6_ADDRSTRLEN];
    if (name->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)name;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        return Py_BuildValue("(si)", host, ntohs(a->sin_port));
    }
    if (name->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)name;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        return Py_BuildValue("(siIk)", host, ntohs(a->sin6_port), ntohl(a->sin6_flowinfo),
                             (unsigned long)a->sin6_scope_id);
    }
    Py_RETURN_NONE;
}

/* Whether the receive session is known; asks Python for it until DTLS-SRTP is up. -1: error. */
static int bound(Receiver *r)
{
    if (r->srtp != NULL)
        return 1;
    if (srtp_unprotect_ptr == NULL)
        return 0;
    PyObject *target = PyObject_CallNoArgs(r->bind);
    if (target == NULL)
        return -1;
    if (target == Py_None) {
        Py_DECREF(target);
        return 0;
    }
    PyObject *session;
    unsigned long long srtp;
    if (!PyArg_ParseTuple(target, "OK", &session, &srtp)) {
        Py_DECREF(target);
        return -1;
    }
    Py_INCREF(session);
    Py_XSETREF(r->session, session);
    r->srtp = (void *)(uintptr_t)srtp;
    Py_DECREF(target);
    return 1;
}

/* One datagram: SRTP handled here, anything else (or RTP before the session) to fallback.
 * addr is the Python address when asyncio read it, else name is the sender's. */
static int on_datagram(Receiver *r, PyObject *fallback, unsigned char *p, int n, PyObject *addr,
                       const struct sockaddr_storage *name, HeldSet *h)
{
    /* RTP (first byte 128-191, not an RTCP packet type) */
    if (11 < n && n <= MAX_SRTP && 127 < p[0] && p[0] < 192 && !(191 < p[1] && p[1] < 209)) {
        int state = bound(r);
        if (state < 0)
            return -1;
        if (state == 1) {
            int length = n;
            if (srtp_unprotect_ptr(r->srtp, p, &length) != 0 || length < 12)
                return 0; /* failed authentication or replayed: dropped, as aiortc does */
            struct timespec t;
            clock_gettime(CLOCK_REALTIME, &t);
            double now = (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
            long long ms = (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000 + r->ntp_offset_ms;
            return on_rtp(r, p, length, now, ms, h);
        }
    }
    /* STUN, DTLS, RTCP: aioice's handler, after what this read holds has gone out */
    if (flush_held(h) < 0)
        return -1;
    PyObject *data = PyBytes_FromStringAndSize((const char *)p, n);
    if (data == NULL)
        return -1;
    PyObject *from = addr;
    if (from != NULL)
        Py_INCREF(from);
    else
        from = address(name);
    PyObject *result = from ? PyObject_CallFunctionObjArgs(fallback, data, from, NULL) : NULL;
    Py_DECREF(data);
    Py_XDECREF(from);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

/* Read what is queued on fd with one recvmmsg and handle each datagram. Returns -1 with an
 * exception; *got (when given) is what the read returned: -1 with errno, else the datagrams. */
static int read_queued(Receiver *r, PyObject *fallback, int fd, HeldSet *h, int *got)
{
    struct mmsghdr msgs[DRAIN];
    struct iovec iov[DRAIN];
    struct sockaddr_storage names[DRAIN];
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < DRAIN; i++) {
        iov[i].iov_base = drain_buffers[i];
        iov[i].iov_len = RECV_SIZE;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &names[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(names[i]);
    }
    /* errors (nothing queued, closing, an ICMP error) are the caller's: asyncio's reader or the set */
    int n = recvmmsg(fd, msgs, DRAIN, MSG_DONTWAIT, NULL);
    if (got != NULL)
        *got = n;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = on_datagram(r, fallback, drain_buffers[i], (int)msgs[i].msg_len, NULL, &names[i], h);
    return rc;
}

/* After a read: the estimator's group, then what is held goes out. rc < 0: an exception is set,
 * kept while the held packets are released. Returns rc, or -1 when this raised. */
static int end_read(Receiver *r, HeldSet *h, int rc)
{
    if (rc == 0 && r->group_count && flush_group(r) < 0)
        rc = -1;
    if (rc == 0)
        return flush_held(h);
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    flush_held(h);
    PyErr_Restore(type, value, traceback);
    return rc;
}

PyDoc_STRVAR(Receiver_receive_doc,
             "receive(fd, fallback, data, addr)\n--\n\n"
             "Handle a datagram read from the socket fd, and those already queued behind it; what\n"
             "is not SRTP goes to fallback(data, addr). fd -1: only this one.");

static PyObject *Receiver_receive(Receiver *r, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "receive() takes fd, fallback, data (bytes) and addr");
        return NULL;
    }
    int fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    PyObject *fallback = args[1];
    HeldSet h;
    h.count = 0;
    Py_INCREF(r);
    int rc = 0;
    Py_ssize_t n = PyBytes_GET_SIZE(args[2]);
    if (n <= MAX_SRTP) {
        memcpy(first_buffer, PyBytes_AS_STRING(args[2]), (size_t)n);
        rc = on_datagram(r, fallback, first_buffer, (int)n, args[3], NULL, &h);
    } else {
        PyObject *result = PyObject_CallFunctionObjArgs(fallback, args[2], args[3], NULL);
        rc = result == NULL ? -1 : 0;
        Py_XDECREF(result);
    }
    if (rc == 0 && fd >= 0)
        /* a video frame comes as a burst of datagrams: read those already queued in one call
         * rather than going round the event loop (a poll and a callback) for each */
        rc = read_queued(r, fallback, fd, &h, NULL);
    rc = end_read(r, &h, rc);
    Py_DECREF(r);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Receiver_add_stream_doc,
             "add_stream(ssrc, track, feedback, clock_rate, video, nacks, level_id)\n--\n\n"
             "Forward the stream with this SSRC to track; feedback.nack(seq, max_seq) -> (max_seq,\n"
             "missing) decides NACKs when packets do not come in order.");

static PyObject *Receiver_add_stream(Receiver *r, PyObject *args)
{
    unsigned long ssrc;
    PyObject *track, *feedback;
    long long clock_rate;
    int video, nacks, level_id;
    if (!PyArg_ParseTuple(args, "kOOLppi", &ssrc, &track, &feedback, &clock_rate, &video, &nacks, &level_id))
        return NULL;
    Stream *st = find_stream(r, (uint32_t)ssrc);
    if (st == NULL) {
        if (r->nstreams == MAX_STREAMS) {
            PyErr_SetString(PyExc_ValueError, "too many streams on one transport");
            return NULL;
        }
        st = &r->streams[r->nstreams++];
    } else {
        Py_CLEAR(st->track);
        Py_CLEAR(st->feedback);
    }
    memset(st, 0, sizeof(*st));
    st->ssrc = (uint32_t)ssrc;
    Py_INCREF(track);
    st->track = track;
    Py_INCREF(feedback);
    st->feedback = feedback;
    st->clock_rate = clock_rate;
    st->video = video;
    st->nacks = nacks;
    st->level_id = level_id;
    st->base_seq = -1;
    st->max_seq = -1;
    st->nack_max = -1;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Receiver_stream_stats_doc,
             "stream_stats(ssrc)\n--\n\n"
             "(base_seq, max_seq, cycles, packets_received, jitter_q4, bytes) of a stream, as aiortc's\n"
             "StreamStatistics holds them (None for an unknown sequence), or None for an unknown SSRC.");

static PyObject *Receiver_stream_stats(Receiver *r, PyObject *arg)
{
    unsigned long ssrc = PyLong_AsUnsignedLong(arg);
    if (PyErr_Occurred())
        return NULL;
    Stream *st = find_stream(r, (uint32_t)ssrc);
    if (st == NULL)
        Py_RETURN_NONE;
    PyObject *base = st->base_seq < 0 ? Py_None : NULL, *max = st->max_seq < 0 ? Py_None : NULL;
    return Py_BuildValue("(NNLLLL)", base ? (Py_INCREF(base), base) : PyLong_FromLong(st->base_seq),
                         max ? (Py_INCREF(max), max) : PyLong_FromLong(st->max_seq), st->cycles, st->received,
                         st->jitter_q4, st->bytes);
}

static PyObject *Receiver_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"route", "bind", "remb", "ntp_offset_ms", "abs_send_time_id", NULL};
    PyObject *route, *bind, *remb;
    long long offset;
    int abs_id;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOLi", keywords, &route, &bind, &remb, &offset, &abs_id))
        return NULL;
    Receiver *r = (Receiver *)type->tp_alloc(type, 0);
    if (r == NULL)
        return NULL;
    Py_INCREF(route);
    r->route = route;
    Py_INCREF(bind);
    r->bind = bind;
    Py_INCREF(remb);
    r->remb = remb;
    r->ntp_offset_ms = offset;
    r->abs_send_time_id = abs_id;
    return (PyObject *)r;
}

static int Receiver_traverse(Receiver *r, visitproc visit, void *arg)
{
    Py_VISIT(r->route);
    Py_VISIT(r->bind);
    Py_VISIT(r->remb);
    Py_VISIT(r->session);
    for (int i = 0; i < r->nstreams; i++) {
        Py_VISIT(r->streams[i].track);
        Py_VISIT(r->streams[i].feedback);
    }
    return 0;
}

static int Receiver_clear(Receiver *r)
{
    Py_CLEAR(r->route);
    Py_CLEAR(r->bind);
    Py_CLEAR(r->remb);
    Py_CLEAR(r->session);
    r->srtp = NULL;
    for (int i = 0; i < r->nstreams; i++) {
        Py_CLEAR(r->streams[i].track);
        Py_CLEAR(r->streams[i].feedback);
    }
    r->nstreams = 0;
    return 0;
}

static void Receiver_dealloc(Receiver *r)
{
    PyObject_GC_UnTrack(r);
    Receiver_clear(r);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyMemberDef Receiver_members[] = {
    {"packets", T_LONGLONG, offsetof(Receiver, packets), READONLY, "RTP packets unprotected here."},
    {"to_python", T_LONGLONG, offsetof(Receiver, to_python), READONLY,
     "Of those, the ones handed to Python (a new SSRC, a NACK decision, a switch at a keyframe)."},
    {NULL},
};

static PyMethodDef Receiver_methods[] = {
    {"receive", (PyCFunction)(void (*)(void))Receiver_receive, METH_FASTCALL, Receiver_receive_doc},
    {"add_stream", (PyCFunction)Receiver_add_stream, METH_VARARGS, Receiver_add_stream_doc},
    {"stream_stats", (PyCFunction)Receiver_stream_stats, METH_O, Receiver_stream_stats_doc},
    {NULL},
};

static PyTypeObject ReceiverType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "media_server._fastpath.Receiver",
    .tp_doc = PyDoc_STR("Receiver(route, bind, remb, ntp_offset_ms, abs_send_time_id): one publish transport's "
                        "receive path."),
    .tp_basicsize = sizeof(Receiver),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = Receiver_new,
    .tp_dealloc = (destructor)Receiver_dealloc,
    .tp_traverse = (traverseproc)Receiver_traverse,
    .tp_clear = (inquiry)Receiver_clear,
    .tp_members = Receiver_members,
    .tp_methods = Receiver_methods,
};

/* ---------------------------------------------------------------------------------------------
 * One epoll set for every publisher socket of an event loop (ReceiveSet).
 *
 * With a reader per socket, asyncio wakes, builds a handle, runs _read_ready (recvfrom, a bytes
 * object and an address tuple) and the Receiver for each socket that has a datagram: several µs of
 * Python per incoming packet when packets come one per read (microphones, low-rate cameras). The
 * set's epoll descriptor is the loop's only reader for them instead: one Python call (drain) per
 * loop iteration reads every ready socket with recvmmsg and hands each datagram to the socket's
 * Receiver, in C. asyncio's own reader of each socket is removed (seam.stop_reading); its
 * transport still sends, and closes the socket.
 *
 * Entries are indexed by descriptor. The set keeps each socket object and asks it for its
 * descriptor before reading (a socket closed meanwhile says -1, and its number may already be
 * another socket's); the epoll registration itself goes away with the socket.
 * ------------------------------------------------------------------------------------------- */

#include <sys/epoll.h>
#include <unistd.h>

#define SET_EVENTS 64 /* ready sockets taken per epoll_wait */
#define SET_ROUNDS 4  /* recvmmsg calls per socket per drain: 64 datagrams, then the others' turn */

typedef struct {
    PyObject *sock;     /* the socket object: NULL for a free entry */
    Receiver *receiver; /* owned */
    PyObject *fallback; /* aioice's datagram_received */
    uint32_t generation;
} SetEntry;

typedef struct {
    PyObject_HEAD
    int epfd;
    SetEntry *entries;
    int capacity;
    int size;
    uint32_t generation;
    long long drains;    /* drain() calls */
    long long reads;     /* recvmmsg calls */
    long long datagrams; /* datagrams read */
} ReceiveSet;

static void clear_entry(SetEntry *e)
{
    Py_CLEAR(e->sock);
    Py_CLEAR(e->receiver);
    Py_CLEAR(e->fallback);
}

/* The socket's descriptor now (-1 closed), or -2 with an exception. */
static int current_fd(PyObject *sock)
{
    int fd = PyObject_AsFileDescriptor(sock);
    if (fd >= 0)
        return fd;
    if (PyErr_ExceptionMatches(PyExc_ValueError)) {
        /* "file descriptor cannot be a negative integer": a closed socket */
        PyErr_Clear();
        return -1;
    }
    return -2;
}

static PyObject *ReceiveSet_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (!PyArg_ParseTuple(args, ":ReceiveSet"))
        return NULL;
    ReceiveSet *s = (ReceiveSet *)type->tp_alloc(type, 0);
    if (s == NULL)
        return NULL;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        Py_DECREF(s);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return (PyObject *)s;
}

static int ReceiveSet_traverse(ReceiveSet *s, visitproc visit, void *arg)
{
    for (int i = 0; i < s->capacity; i++) {
        Py_VISIT(s->entries[i].sock);
        Py_VISIT(s->entries[i].receiver);
        Py_VISIT(s->entries[i].fallback);
    }
    return 0;
}

static int ReceiveSet_clear(ReceiveSet *s)
{
    for (int i = 0; i < s->capacity; i++)
        clear_entry(&s->entries[i]);
    s->size = 0;
    return 0;
}

static void ReceiveSet_dealloc(ReceiveSet *s)
{
    PyObject_GC_UnTrack(s);
    ReceiveSet_clear(s);
    PyMem_Free(s->entries);
    if (s->epfd >= 0)
        close(s->epfd);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *ReceiveSet_fileno(ReceiveSet *s, PyObject *unused)
{
    if (s->epfd < 0) {
        PyErr_SetString(PyExc_ValueError, "the set is closed");
        return NULL;
    }
    return PyLong_FromLong(s->epfd);
}

PyDoc_STRVAR(ReceiveSet_add_doc, "add(sock, receiver, fallback)\n--\n\n"
                                 "Read sock in drain() from now on: SRTP to receiver, anything else to\n"
                                 "fallback(data, addr). The socket must not be read by anyone else.");

static PyObject *ReceiveSet_add(ReceiveSet *s, PyObject *args)
{
    PyObject *sock, *receiver, *fallback;
    if (!PyArg_ParseTuple(args, "OO!O", &sock, &ReceiverType, &receiver, &fallback))
        return NULL;
    if (s->epfd < 0) {
        PyErr_SetString(PyExc_ValueError, "the set is closed");
        return NULL;
    }
    int fd = PyObject_AsFileDescriptor(sock);
    if (fd < 0)
        return NULL;
    if (fd >= s->capacity) {
        int capacity = s->capacity ? s->capacity : 64;
        while (capacity <= fd)
            capacity *= 2;
        SetEntry *entries = PyMem_Realloc(s->entries, (size_t)capacity * sizeof(SetEntry));
        if (entries == NULL)
            return PyErr_NoMemory();
        memset(entries + s->capacity, 0, (size_t)(capacity - s->capacity) * sizeof(SetEntry));
        s->entries = entries;
        s->capacity = capacity;
    }
    SetEntry *e = &s->entries[fd];
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    uint32_t generation = ++s->generation;
    ev.data.u64 = (uint64_t)generation << 32 | (uint32_t)fd;
    /* a stale entry (its socket closed without remove) left no registration: ADD works; the
     * same socket added again is still registered: MOD */
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 &&
        (errno != EEXIST || epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev) < 0))
        return PyErr_SetFromErrno(PyExc_OSError);
    if (e->sock == NULL)
        s->size++;
    clear_entry(e);
    Py_INCREF(sock);
    e->sock = sock;
    Py_INCREF(receiver);
    e->receiver = (Receiver *)receiver;
    Py_INCREF(fallback);
    e->fallback = fallback;
    e->generation = generation;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(ReceiveSet_remove_doc, "remove(fd, sock)\n--\n\n"
                                    "Stop reading sock, which had descriptor fd when added (it may be closed\n"
                                    "now). Another socket since added under fd stays. Returns whether it was there.");

static PyObject *ReceiveSet_remove(ReceiveSet *s, PyObject *args)
{
    int fd;
    PyObject *sock;
    if (!PyArg_ParseTuple(args, "iO", &fd, &sock))
        return NULL;
    if (fd < 0 || fd >= s->capacity || s->entries[fd].sock != sock)
        Py_RETURN_FALSE;
    /* closed already: the registration went with it (EBADF, or ENOENT when the number is reused) */
    if (current_fd(sock) == fd)
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
    PyErr_Clear();
    clear_entry(&s->entries[fd]);
    s->size--;
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(ReceiveSet_drain_doc, "drain()\n--\n\n"
                                   "Read every ready socket of the set (the loop calls this when the set's\n"
                                   "descriptor is readable). Raises the first exception a callback raised,\n"
                                   "after the other sockets were read.");

static PyObject *ReceiveSet_drain(ReceiveSet *s, PyObject *unused)
{
    if (s->epfd < 0)
        Py_RETURN_NONE;
    struct epoll_event events[SET_EVENTS];
    int ready = epoll_wait(s->epfd, events, SET_EVENTS, 0);
    if (ready < 0) {
        if (errno == EINTR)
            Py_RETURN_NONE;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    s->drains++;
    PyObject *type = NULL, *value = NULL, *traceback = NULL; /* the first exception */
    Py_INCREF(s);
    for (int k = 0; k < ready; k++) {
        int fd = (int)(uint32_t)events[k].data.u64;
        uint32_t generation = (uint32_t)(events[k].data.u64 >> 32);
        if (fd >= s->capacity || s->entries[fd].sock == NULL || s->entries[fd].generation != generation)
            continue; /* removed, or replaced, by a callback earlier in this drain */
        SetEntry *e = &s->entries[fd];
        PyObject *sock = e->sock, *fallback = e->fallback;
        Receiver *r = e->receiver;
        Py_INCREF(sock);
        Py_INCREF(fallback);
        Py_INCREF(r);
        for (int round = 0; round < SET_ROUNDS; round++) {
            /* callbacks run Python, which may close the socket (its number then taken by another
             * one) or remove it from the set: check both before each read */
            int now = current_fd(sock);
            if (now == -2) {
                PyErr_Clear();
                break;
            }
            if (fd >= s->capacity || s->entries[fd].sock != sock || s->entries[fd].generation != generation)
                break;
            if (now != fd) {
                clear_entry(&s->entries[fd]);
                s->size--;
                break;
            }
            HeldSet h;
            h.count = 0;
            int got = 0;
            int rc = read_queued(r, fallback, fd, &h, &got);
            s->reads++;
            if (got > 0)
                s->datagrams += got;
            int error = got < 0 ? errno : 0;
            rc = end_read(r, &h, rc);
            if (rc < 0) {
                if (type == NULL)
                    PyErr_Fetch(&type, &value, &traceback);
                else
                    PyErr_WriteUnraisable((PyObject *)s);
                break;
            }
            if (got < 0 && (error == EBADF || error == ENOTSOCK) && fd < s->capacity &&
                s->entries[fd].sock == sock) {
                clear_entry(&s->entries[fd]);
                s->size--;
            }
            /* an ICMP error is consumed by the read that reports it; the next drain reads on */
            if (got < DRAIN)
                break;
        }
        Py_DECREF(sock);
        Py_DECREF(fallback);
        Py_DECREF(r);
    }
    Py_DECREF(s);
    if (type != NULL) {
        PyErr_Restore(type, value, traceback);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *ReceiveSet_close(ReceiveSet *s, PyObject *unused)
{
    ReceiveSet_clear(s);
    if (s->epfd >= 0) {
        close(s->epfd);
        s->epfd = -1;
    }
    Py_RETURN_NONE;
}

static PyObject *ReceiveSet_len(ReceiveSet *s, void *closure)
{
    return PyLong_FromLong(s->size);
}

static PyMemberDef ReceiveSet_members[] = {
    {"drains", T_LONGLONG, offsetof(ReceiveSet, drains), READONLY, "drain() calls that found the set readable."},
    {"reads", T_LONGLONG, offsetof(ReceiveSet, reads), READONLY, "recvmmsg calls."},
    {"datagrams", T_LONGLONG, offsetof(ReceiveSet, datagrams), READONLY, "Datagrams read."},
    {NULL},
};

static PyGetSetDef ReceiveSet_getset[] = {
    {"size", (getter)ReceiveSet_len, NULL, "Sockets in the set.", NULL},
    {NULL},
};

static PyMethodDef ReceiveSet_methods[] = {
    {"fileno", (PyCFunction)ReceiveSet_fileno, METH_NOARGS, "The epoll descriptor: readable when a socket is."},
    {"add", (PyCFunction)ReceiveSet_add, METH_VARARGS, ReceiveSet_add_doc},
    {"remove", (PyCFunction)ReceiveSet_remove, METH_VARARGS, ReceiveSet_remove_doc},
    {"drain", (PyCFunction)ReceiveSet_drain, METH_NOARGS, ReceiveSet_drain_doc},
    {"close", (PyCFunction)ReceiveSet_close, METH_NOARGS, "Forget every socket and close the epoll descriptor."},
    {NULL},
};

static PyTypeObject ReceiveSetType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "media_server._fastpath.ReceiveSet",
    .tp_doc = PyDoc_STR("ReceiveSet(): one epoll set reading every publisher socket of an event loop."),
    .tp_basicsize = sizeof(ReceiveSet),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = ReceiveSet_new,
    .tp_dealloc = (destructor)ReceiveSet_dealloc,
    .tp_traverse = (traverseproc)ReceiveSet_traverse,
    .tp_clear = (inquiry)ReceiveSet_clear,
    .tp_members = ReceiveSet_members,
    .tp_getset = ReceiveSet_getset,
    .tp_methods = ReceiveSet_methods,
};

static int receive_init(PyObject *m)
{
    if (PyType_Ready(&ReceiverType) < 0)
        return -1;
#define INTERN(var, text)                                                                                          \
    if ((var = PyUnicode_InternFromString(text)) == NULL)                                                          \
        return -1;
    INTERN(str_allowed, "allowed")
    INTERN(str_slots, "slots")
    INTERN(str_pending, "pending")
    INTERN(str_last_rx_ms, "last_rx_ms")
    INTERN(str_packets, "packets")
    INTERN(str_level, "level")
    INTERN(str_on_rtp, "on_rtp")
#undef INTERN
    Py_INCREF(&ReceiverType);
    if (PyModule_AddObject(m, "Receiver", (PyObject *)&ReceiverType) < 0) {
        Py_DECREF(&ReceiverType);
        return -1;
    }
    if (PyType_Ready(&ReceiveSetType) < 0)
        return -1;
    Py_INCREF(&ReceiveSetType);
    if (PyModule_AddObject(m, "ReceiveSet", (PyObject *)&ReceiveSetType) < 0) {
        Py_DECREF(&ReceiveSetType);
        return -1;
    }
    return 0;
}

static PyObject *bind_libsrtp(PyObject *module, PyObject *arg)
{
    /* whatever happens below, nothing is called through a pointer of a refused library */
    srtp_protect_ptr = NULL;
    srtp_unprotect_ptr = NULL;
    libsrtp_bound = 0;
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL)
        return NULL;
    /* RTLD_NOLOAD: only the copy already loaded (by pylibsrtp) owns the sessions' srtp_t */
    void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL)
        return PyErr_Format(PyExc_OSError, "%s is not loaded: %s", path, dlerror());
    version_fn get_version = (version_fn)dlsym(handle, "srtp_get_version");
    protect_fn protect = (protect_fn)dlsym(handle, "srtp_protect");
    if (get_version == NULL || protect == NULL) {
        dlclose(handle);
        return PyErr_Format(PyExc_ValueError, "%s exports no srtp_get_version or srtp_protect: not libsrtp", path);
    }
    unsigned int version = get_version();
    if (version >> 24 != LIBSRTP_MAJOR) {
        dlclose(handle);
        return PyErr_Format(PyExc_ValueError, "libsrtp %u.%u.%u in %s: srtp_protect is called as libsrtp %d declares it",
                            version >> 24, (version >> 16) & 0xFF, version & 0xFFFF, path, LIBSRTP_MAJOR);
    }
    protect_fn unprotect = (protect_fn)dlsym(handle, "srtp_unprotect");
    if (unprotect == NULL) {
        dlclose(handle);
        return PyErr_Format(PyExc_ValueError, "%s exports no srtp_unprotect: not libsrtp", path);
    }
    /* the handle stays open: the library must outlive every call through the pointer */
    srtp_protect_ptr = protect;
    srtp_unprotect_ptr = unprotect;
    libsrtp_bound = version;
    return PyLong_FromUnsignedLong(version);
}

static PyObject *libsrtp_version(PyObject *module, PyObject *unused)
{
    return PyLong_FromUnsignedLong(libsrtp_bound);
}

static PyMethodDef module_methods[] = {
    {"fanout", (PyCFunction)(void (*)(void))fanout, METH_FASTCALL, fanout_doc},
    {"fanout_burst", (PyCFunction)(void (*)(void))fanout_burst, METH_FASTCALL, fanout_burst_doc},
    {"gso_state", gso_state, METH_NOARGS, "(whether segmented sends are on, how many were sent, the packets they carried)."},
    {"set_gso", set_gso, METH_O, "Turn segmented sends on or off (off: one datagram per packet)."},
    {"bind_libsrtp", bind_libsrtp, METH_O,
     "Call srtp_protect of the loaded libsrtp at this path, after checking its version; return the version."},
    {"libsrtp_version", libsrtp_version, METH_NOARGS, "The bound libsrtp's srtp_get_version(), 0 when none is bound."},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "media_server._fastpath",
    .m_doc = "The forwarder's per-subscriber loop in C.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__fastpath(void)
{
    if (PyType_Ready(&SlotCoreType) < 0)
        return NULL;
    one = PyLong_FromLong(1);
    str_send = PyUnicode_InternFromString("send");
    str_native_target = PyUnicode_InternFromString("native_target");
    if (one == NULL || str_send == NULL || str_native_target == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&SlotCoreType);
    if (PyModule_AddObject(m, "SlotCore", (PyObject *)&SlotCoreType) < 0) {
        Py_DECREF(&SlotCoreType);
        Py_DECREF(m);
        return NULL;
    }
    if (receive_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "HISTORY", HISTORY) < 0 || PyModule_AddIntConstant(m, "MAX_PLAIN", MAX_PLAIN) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
