/* frames.c: the C side of the byte-frame tests in tests/c_api.rs. Calls every
 * frame function of sysvring.h (compiled with -Wall -Wextra -Werror).
 *
 *   frames writer KEY COUNT SEED   opens the frame channel at KEY (made by Rust),
 *                                  sends COUNT frames of the test's generator
 *                                  (random lengths 0..max_len) by every send form
 *                                  (copy, reserve + commit, reserve + shrink +
 *                                  commit, an abort now and then), prints
 *                                  "sent COUNT CHECKSUM"
 *   frames reader KEY COUNT SEED   receives COUNT frames (a small buffer grown on
 *                                  BUFFER_TOO_SMALL, and in place), checks each
 *                                  against the generator, waits for DISCONNECTED,
 *                                  prints "received COUNT CHECKSUM"
 *   frames errors K1 K2 K3         every frame error code from real situations, at
 *                                  unused keys; removes what it makes; prints "ok"
 *
 * The generator (frames.rs in tests/c_api.rs has its twin): one xorshift64* stream
 * from SEED; a frame's length is next() % (max_len + 1), then its bytes are the
 * little-endian bytes of next() calls, eight at a time. The checksum is FNV-1a over
 * each frame's length (one step) and bytes.
 */
#define _DEFAULT_SOURCE
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "sysvring.h"

/* The layout capi/src declares (tests/c_api.rs asserts the same numbers in Rust). */
static_assert(sizeof(sysvring_frame_options) == 48, "sysvring_frame_options");
static_assert(offsetof(sysvring_frame_options, key) == 8, "frame_options.key");
static_assert(offsetof(sysvring_frame_options, transport) == 12, "frame_options.transport");
static_assert(offsetof(sysvring_frame_options, reserved) == 20, "frame_options.reserved");
static_assert(offsetof(sysvring_frame_options, max_len) == 24, "frame_options.max_len");
static_assert(offsetof(sysvring_frame_options, capacity_bytes) == 32, "frame_options.capacity_bytes");
static_assert(offsetof(sysvring_frame_options, open_timeout_us) == 40, "frame_options.open_timeout_us");

static int failures = 0;

#define EXPECT(expr, want)                                                              \
    do {                                                                                \
        long long got_ = (long long)(expr);                                             \
        if (got_ != (long long)(want)) {                                                \
            char d_[256];                                                               \
            sysvring_last_error(d_, sizeof d_);                                         \
            fprintf(stderr, "%s:%d: %s = %lld (%s), want %lld (%s); last error: %s\n", \
                    __FILE__, __LINE__, #expr, got_, sysvring_strerror((int)got_),      \
                    (long long)(want), sysvring_strerror((int)(want)), d_);             \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

static void die(const char *what, int rc) {
    char d[256];
    sysvring_last_error(d, sizeof d);
    fprintf(stderr, "%s: %s (%d): %s\n", what, sysvring_strerror(rc), rc, d);
    exit(1);
}

/* ---- the generator and the checksum ---- */

typedef struct gen {
    uint64_t s;
} gen;

static uint64_t gen_next(gen *g) {
    uint64_t x = g->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    g->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The next frame: its length, and its bytes into buf (at least max_len bytes). */
static size_t gen_frame(gen *g, uint64_t max_len, uint8_t *buf) {
    size_t len = (size_t)(gen_next(g) % (max_len + 1));
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = gen_next(g);
        for (size_t k = 0; k < 8 && i + k < len; k++) buf[i + k] = (uint8_t)(w >> (8 * k));
    }
    return len;
}

#define FNV_PRIME 0x100000001b3ULL
#define FNV_START 0xcbf29ce484222325ULL

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t len) {
    h = (h ^ (uint64_t)len) * FNV_PRIME;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

static sysvring_frame_channel *open_frames(int32_t key) {
    sysvring_frame_options o;
    EXPECT(sysvring_frame_options_init(&o), 0);
    o.key = key;
    sysvring_frame_channel *ch = NULL;
    int rc = sysvring_frames_open(&o, &ch);
    if (rc < 0) die("frames_open", rc);
    return ch;
}

/* ---- C writer ---- */

static int writer(int32_t key, uint64_t count, uint64_t seed) {
    sysvring_frame_channel *ch = open_frames(key);
    uint64_t max_len = 0;
    EXPECT(sysvring_frames_max_len(ch, &max_len), 0);
    sysvring_frame_sender *tx = NULL;
    int rc = sysvring_frames_sender_open(ch, &tx);
    if (rc < 0) die("sender_open", rc);
    uint8_t *buf = malloc(max_len + 1);
    assert(buf);
    gen g = {seed | 1};
    uint64_t sum = FNV_START;
    for (uint64_t i = 0; i < count; i++) {
        size_t len = gen_frame(&g, max_len, buf);
        sum = fnv(sum, buf, len);
        void *slot = NULL;
        switch (i % 4) {
        case 0: /* a copy, blocking */
            if ((rc = sysvring_send_bytes(tx, buf, len, SYSVRING_FOREVER)) < 0) die("send_bytes", rc);
            break;
        case 1: /* a copy with a timeout, tried again on TIMEOUT */
            while ((rc = sysvring_send_bytes(tx, buf, len, 50000)) == SYSVRING_E_TIMEOUT) {}
            if (rc < 0) die("send_bytes (timeout)", rc);
            break;
        case 2: /* in place, exactly */
            if ((rc = sysvring_frame_reserve(tx, len, &slot, SYSVRING_FOREVER)) < 0) die("reserve", rc);
            memcpy(slot, buf, len);
            if ((rc = sysvring_frame_commit(tx, len)) < 0) die("commit", rc);
            break;
        default: { /* in place at the maximum, shrunk; an aborted frame now and then */
            if (i % 64 == 3) {
                if ((rc = sysvring_frame_reserve(tx, max_len, &slot, SYSVRING_FOREVER)) < 0)
                    die("reserve (abort)", rc);
                memset(slot, 0xee, max_len);
                if ((rc = sysvring_frame_abort(tx)) < 0) die("abort", rc);
            }
            if ((rc = sysvring_frame_reserve(tx, max_len, &slot, SYSVRING_FOREVER)) < 0) die("reserve", rc);
            memcpy(slot, buf, len);
            if ((rc = sysvring_frame_commit(tx, len)) < 0) die("commit (shrunk)", rc);
        }
        }
    }
    free(buf);
    EXPECT(sysvring_frames_sender_close(tx), 0);
    EXPECT(sysvring_frames_close(ch), 0);
    printf("sent %llu %016llx\n", (unsigned long long)count, (unsigned long long)sum);
    return failures ? 1 : 0;
}

/* ---- C reader ---- */

typedef struct check {
    gen *g;
    uint64_t max_len;
    uint8_t *want;
    uint64_t *sum;
    int bad;
} check;

static void check_frame(check *c, const uint8_t *p, size_t len) {
    size_t want = gen_frame(c->g, c->max_len, c->want);
    if (len != want || memcmp(p, c->want, len) != 0) c->bad++;
    *c->sum = fnv(*c->sum, p, len);
}

static void read_check(const void *frame, size_t len, void *ctx) {
    check_frame(ctx, frame, len);
}

static int reader(int32_t key, uint64_t count, uint64_t seed) {
    sysvring_frame_channel *ch = open_frames(key);
    uint64_t max_len = 0;
    EXPECT(sysvring_frames_max_len(ch, &max_len), 0);
    sysvring_frame_receiver *rx = NULL;
    int rc = sysvring_frames_receiver_open(ch, &rx);
    if (rc < 0) die("receiver_open", rc);
    gen g = {seed | 1};
    uint64_t sum = FNV_START;
    check c = {&g, max_len, malloc(max_len + 1), &sum, 0};
    size_t cap = 16;
    uint8_t *buf = malloc(cap);
    assert(c.want && buf);
    uint64_t grown = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (i % 2 == 0) {
            if ((rc = sysvring_recv_bytes_in_place(rx, read_check, &c, SYSVRING_FOREVER)) < 0)
                die("recv_bytes_in_place", rc);
            continue;
        }
        size_t len = 0;
        while ((rc = sysvring_recv_bytes(rx, buf, cap, &len, 50000)) == SYSVRING_E_BUFFER_TOO_SMALL ||
               rc == SYSVRING_E_TIMEOUT) {
            if (rc == SYSVRING_E_TIMEOUT) continue;
            if (len <= cap) die("BUFFER_TOO_SMALL without a larger length", rc);
            cap = len; /* exactly the frame: the next try fits */
            buf = realloc(buf, cap);
            assert(buf);
            grown++;
        }
        if (rc < 0) die("recv_bytes", rc);
        check_frame(&c, buf, len);
    }
    size_t len = 0;
    EXPECT(sysvring_recv_bytes(rx, buf, cap, &len, SYSVRING_FOREVER), SYSVRING_E_DISCONNECTED);
    EXPECT(c.bad, 0);
    EXPECT(count < 100 || grown > 0, 1);
    free(buf);
    free(c.want);
    EXPECT(sysvring_frames_receiver_close(rx), 0);
    EXPECT(sysvring_frames_close(ch), 0);
    printf("received %llu %016llx\n", (unsigned long long)count, (unsigned long long)sum);
    return failures ? 1 : 0;
}

/* ---- error codes ---- */

static sysvring_frame_sender *reenter_tx;
static sysvring_frame_receiver *reenter_rx;

static void read_reenter(const void *frame, size_t len, void *ctx) {
    int *r = ctx;
    uint8_t b[8];
    size_t n = 0;
    EXPECT(len == 3 && memcmp(frame, "abc", 3) == 0, 1);
    r[0] = sysvring_recv_bytes(reenter_rx, b, sizeof b, &n, 0);
    r[1] = sysvring_recv_bytes_in_place(reenter_rx, read_reenter, ctx, 0);
    r[2] = sysvring_frames_receiver_close(reenter_rx);
    r[3] = sysvring_send_bytes(reenter_tx, "xyz", 3, 0);
}

static void read_copy(const void *frame, size_t len, void *ctx) {
    memcpy(ctx, frame, len);
}

static void operations(int32_t key) {
    const int INVAL = SYSVRING_E_INVALID_ARGUMENT;
    sysvring_frame_options o;
    EXPECT(sysvring_frame_options_init(&o), 0);
    o.key = key;
    o.max_len = 100;
    o.capacity_bytes = 1024;
    sysvring_frame_channel *ch = NULL, *ch2 = NULL;
    EXPECT(sysvring_frames_create(&o, &ch), 0);
    EXPECT(sysvring_frames_create(&o, &ch2), SYSVRING_E_ALREADY_EXISTS);
    int created = -1;
    EXPECT(sysvring_frames_open_or_create(&o, &ch2, &created), 0);
    EXPECT(created, 0);
    EXPECT(sysvring_frames_close(ch2), 0);
    o.max_len = 0;
    o.capacity_bytes = 0;
    EXPECT(sysvring_frames_open(&o, &ch2), 0); /* 0: any */
    EXPECT(sysvring_frames_close(ch2), 0);
    o.max_len = 101;
    EXPECT(sysvring_frames_open(&o, &ch2), SYSVRING_E_LAYOUT_MISMATCH);
    o.max_len = 100;
    o.capacity_bytes = 2048;
    EXPECT(sysvring_frames_open_or_create(&o, &ch2, &created), SYSVRING_E_LAYOUT_MISMATCH);
    o.capacity_bytes = 1024;

    uint64_t v = 0;
    EXPECT(sysvring_frames_max_len(ch, &v), 0);
    EXPECT(v, 100);
    EXPECT(sysvring_frames_capacity_bytes(ch, &v), 0);
    EXPECT(v, 1024);

    sysvring_frame_sender *tx = NULL, *tx2 = NULL;
    sysvring_frame_receiver *rx = NULL, *rx2 = NULL;
    EXPECT(sysvring_frames_sender_open(ch, &tx), 0);
    EXPECT(sysvring_frames_sender_open(ch, &tx2), SYSVRING_E_ROLE_TAKEN);
    EXPECT(sysvring_frames_receiver_open(ch, &rx), 0);
    EXPECT(sysvring_frames_receiver_open(ch, &rx2), SYSVRING_E_ROLE_TAKEN);

    uint8_t big[128], got[128];
    memset(big, 7, sizeof big);
    size_t n = 99;
    EXPECT(sysvring_recv_bytes(rx, got, sizeof got, &n, 0), SYSVRING_E_EMPTY);
    EXPECT(n, 99); /* untouched */
    EXPECT(sysvring_recv_bytes(rx, got, sizeof got, &n, 1000), SYSVRING_E_TIMEOUT);
    EXPECT(sysvring_recv_bytes_in_place(rx, read_copy, got, 0), SYSVRING_E_EMPTY);
    EXPECT(sysvring_recv_bytes_in_place(rx, read_copy, got, 1000), SYSVRING_E_TIMEOUT);
    EXPECT(sysvring_send_bytes(tx, big, 101, SYSVRING_FOREVER), SYSVRING_E_MESSAGE_TOO_LARGE);
    void *slot = NULL;
    EXPECT(sysvring_frame_reserve(tx, 101, &slot, 0), SYSVRING_E_MESSAGE_TOO_LARGE);

    /* Memory by length: 1024 bytes hold nine records of 100 bytes (112 each, and the
     * next header word), and then one empty frame more. */
    int sent = 0;
    while (sysvring_send_bytes(tx, big, 100, 0) == 0) sent++;
    EXPECT(sent, 9);
    EXPECT(sysvring_send_bytes(tx, big, 100, 0), SYSVRING_E_FULL);
    EXPECT(sysvring_send_bytes(tx, big, 100, 1000), SYSVRING_E_TIMEOUT);
    EXPECT(sysvring_frame_reserve(tx, 100, &slot, 0), SYSVRING_E_FULL);
    EXPECT(sysvring_frame_reserve(tx, 100, &slot, 1000), SYSVRING_E_TIMEOUT);
    EXPECT(sysvring_send_bytes(tx, NULL, 0, 0), 0); /* an empty frame fits */
    EXPECT(sysvring_frames_len(ch, &v), 0);
    EXPECT(v, 10);
    /* A buffer too small: the length is reported and the frame stays. */
    EXPECT(sysvring_recv_bytes(rx, NULL, 0, &n, 0), SYSVRING_E_BUFFER_TOO_SMALL);
    EXPECT(n, 100);
    EXPECT(sysvring_recv_bytes(rx, got, 50, &n, 0), SYSVRING_E_BUFFER_TOO_SMALL);
    EXPECT(n, 100);
    EXPECT(sysvring_frames_len(ch, &v), 0);
    EXPECT(v, 10);
    for (int i = 0; i < 9; i++) {
        memset(got, 0, sizeof got);
        EXPECT(sysvring_recv_bytes(rx, got, sizeof got, &n, SYSVRING_FOREVER), 0);
        EXPECT(n == 100 && memcmp(got, big, 100) == 0, 1);
    }
    EXPECT(sysvring_recv_bytes(rx, NULL, 0, &n, 0), 0); /* the empty frame */
    EXPECT(n, 0);

    /* In place, shrunk; a reservation's state. */
    EXPECT(sysvring_frame_commit(tx, 0), SYSVRING_E_FRAME_STATE);
    EXPECT(sysvring_frame_abort(tx), SYSVRING_E_FRAME_STATE);
    EXPECT(sysvring_frame_reserve(tx, 50, &slot, SYSVRING_FOREVER), 0);
    EXPECT(slot != NULL, 1);
    memcpy(slot, "hello, frames", 13);
    void *slot2 = NULL;
    EXPECT(sysvring_frame_reserve(tx, 10, &slot2, 0), SYSVRING_E_FRAME_STATE);
    EXPECT(sysvring_send_bytes(tx, big, 1, 0), SYSVRING_E_FRAME_STATE);
    EXPECT(sysvring_frame_commit(tx, 51), INVAL); /* a frame only shrinks */
    EXPECT(sysvring_recv_bytes(rx, got, sizeof got, &n, 0), SYSVRING_E_EMPTY);
    EXPECT(sysvring_frame_commit(tx, 13), 0);
    EXPECT(sysvring_frame_commit(tx, 13), SYSVRING_E_FRAME_STATE);
    EXPECT(sysvring_recv_bytes_in_place(rx, read_copy, got, SYSVRING_FOREVER), 0);
    EXPECT(memcmp(got, "hello, frames", 13), 0);
    EXPECT(sysvring_frame_reserve(tx, 100, &slot, 0), 0);
    memset(slot, 1, 100);
    EXPECT(sysvring_frame_abort(tx), 0);
    EXPECT(sysvring_recv_bytes(rx, got, sizeof got, &n, 0), SYSVRING_E_EMPTY); /* aborted */

    /* Re-entry from the in-place callback. */
    EXPECT(sysvring_send_bytes(tx, "abc", 3, 0), 0);
    reenter_tx = tx;
    reenter_rx = rx;
    int inner[4] = {1, 1, 1, 1};
    EXPECT(sysvring_recv_bytes_in_place(rx, read_reenter, inner, SYSVRING_FOREVER), 0);
    EXPECT(inner[0], SYSVRING_E_REENTRANT);
    EXPECT(inner[1], SYSVRING_E_REENTRANT);
    EXPECT(inner[2], SYSVRING_E_REENTRANT);
    EXPECT(inner[3], 0); /* the sender may send from the receiver's callback */
    EXPECT(sysvring_recv_bytes(rx, got, sizeof got, &n, 0), 0);
    EXPECT(n == 3 && memcmp(got, "xyz", 3) == 0, 1);

    sysvring_stats st;
    EXPECT(sysvring_frames_stats_get(ch, &st, sizeof st), 0);
    EXPECT(st.senders == 1 && st.receivers == 1, 1);
    EXPECT(st.sent, 13);
    EXPECT(st.received, 13);
    EXPECT(sysvring_frames_stats_get(ch, &st, sizeof st - 1), INVAL);

    /* A reserved frame is aborted by close. */
    EXPECT(sysvring_frame_reserve(tx, 10, &slot, 0), 0);
    EXPECT(sysvring_frames_sender_close(tx), 0);
    EXPECT(sysvring_recv_bytes(rx, got, sizeof got, &n, 0), SYSVRING_E_DISCONNECTED);
    EXPECT(sysvring_recv_bytes_in_place(rx, read_copy, got, SYSVRING_FOREVER), SYSVRING_E_DISCONNECTED);
    EXPECT(sysvring_frames_sender_open(ch, &tx), 0);
    EXPECT(sysvring_frames_receiver_close(rx), 0);
    EXPECT(sysvring_send_bytes(tx, big, 1, SYSVRING_FOREVER), SYSVRING_E_DISCONNECTED);
    EXPECT(sysvring_send_bytes(tx, big, 1, 0), SYSVRING_E_DISCONNECTED);
    EXPECT(sysvring_frame_reserve(tx, 1, &slot, SYSVRING_FOREVER), SYSVRING_E_DISCONNECTED);

    /* A corrupt record: the header word of a frame scribbled over. */
    EXPECT(sysvring_frames_receiver_open(ch, &rx), 0);
    uint8_t marker[16];
    memset(marker, 0xab, sizeof marker);
    EXPECT(sysvring_send_bytes(tx, marker, sizeof marker, 0), 0);
    int id = shmget(key, 0, 0);
    assert(id >= 0);
    uint8_t *seg = shmat(id, NULL, 0);
    assert(seg != (void *)-1);
    struct shmid_ds ds;
    assert(shmctl(id, IPC_STAT, &ds) == 0);
    int poked = 0;
    for (size_t off = 8; off + sizeof marker <= ds.shm_segsz; off += 8) {
        if (memcmp(seg + off, marker, sizeof marker) == 0) {
            uint64_t word = 0x0700000000000010ULL; /* tag 7, no position check */
            memcpy(seg + off - 8, &word, 8);
            poked++;
            break;
        }
    }
    shmdt(seg);
    EXPECT(poked, 1);
    EXPECT(sysvring_recv_bytes(rx, got, sizeof got, &n, 0), SYSVRING_E_CORRUPT);
    EXPECT(sysvring_recv_bytes_in_place(rx, read_copy, got, SYSVRING_FOREVER), SYSVRING_E_CORRUPT);
    EXPECT(sysvring_frames_receiver_close(rx), 0);
    EXPECT(sysvring_frames_sender_close(tx), 0);

    /* Removed; keep; gone. */
    EXPECT(sysvring_frames_keep(ch), 0);
    EXPECT(sysvring_frames_remove(ch), 0);
    EXPECT(sysvring_frames_sender_open(ch, &tx), SYSVRING_E_REMOVED);
    EXPECT(sysvring_frames_close(ch), 0);
    EXPECT(sysvring_frames_open(&o, &ch), SYSVRING_E_NOT_FOUND);
}

/* Setup refusals: sizes, a typed channel at the key, a frame channel opened typed. */
static void setup_errors(int32_t k_typed, int32_t k_big) {
    const int INVAL = SYSVRING_E_INVALID_ARGUMENT;
    sysvring_frame_options o;
    sysvring_frame_channel *ch = NULL;
    EXPECT(sysvring_frame_options_init(&o), 0);
    o.key = k_big;
    o.capacity_bytes = 1024;
    o.max_len = 1024; /* its record is over a quarter of the ring */
    EXPECT(sysvring_frames_create(&o, &ch), SYSVRING_E_LAYOUT_MISMATCH);
    char d[256];
    sysvring_last_error(d, sizeof d);
    EXPECT(strstr(d, "at most 248") != NULL, 1);
    o.max_len = 0;
    o.capacity_bytes = (uint64_t)1 << 33;
    EXPECT(sysvring_frames_create(&o, &ch), SYSVRING_E_CAPACITY_TOO_LARGE);
    EXPECT(sysvring_frames_open_or_create(&o, &ch, NULL), SYSVRING_E_CAPACITY_TOO_LARGE);
    o.capacity_bytes = 0;
    o.transport = SYSVRING_TRANSPORT_MSGQ;
    EXPECT(sysvring_frames_create(&o, &ch), INVAL);
    o.transport = 9;
    EXPECT(sysvring_frames_create(&o, &ch), INVAL);
    o.transport = SYSVRING_TRANSPORT_SHM;
    o.reserved = 1;
    EXPECT(sysvring_frames_create(&o, &ch), INVAL);
    o.reserved = 0;
    o.struct_size = 40;
    EXPECT(sysvring_frames_create(&o, &ch), INVAL);
    EXPECT(sysvring_frames_open(&o, &ch), INVAL);
    o.struct_size = sizeof o;
    EXPECT(sysvring_frames_open(&o, &ch), SYSVRING_E_NOT_FOUND);

    /* A typed channel at the key: TYPE_MISMATCH both ways, naming the type. */
    sysvring_options t;
    EXPECT(sysvring_options_init(&t), 0);
    t.key = k_typed;
    t.prim = SYSVRING_U64;
    sysvring_channel *typed = NULL;
    EXPECT(sysvring_create(&t, &typed), 0);
    o.key = k_typed;
    EXPECT(sysvring_frames_open(&o, &ch), SYSVRING_E_TYPE_MISMATCH);
    sysvring_last_error(d, sizeof d);
    EXPECT(strstr(d, "u64") != NULL, 1);
    EXPECT(sysvring_channel_close(typed), 0);
    o.key = k_big;
    EXPECT(sysvring_frames_create(&o, &ch), 0);
    t.key = k_big;
    EXPECT(sysvring_open(&t, &typed), SYSVRING_E_TYPE_MISMATCH);
    EXPECT(sysvring_frames_close(ch), 0);
}

/* NULL pointers: an error code each, never a crash. */
static void bad_arguments(int32_t key) {
    const int INVAL = SYSVRING_E_INVALID_ARGUMENT;
    sysvring_frame_options o;
    EXPECT(sysvring_frame_options_init(NULL), INVAL);
    EXPECT(sysvring_frame_options_init(&o), 0);
    o.key = key;
    sysvring_frame_channel *ch = NULL;
    EXPECT(sysvring_frames_create(NULL, &ch), INVAL);
    EXPECT(sysvring_frames_create(&o, NULL), INVAL);
    EXPECT(sysvring_frames_open(NULL, &ch), INVAL);
    EXPECT(sysvring_frames_open_or_create(NULL, &ch, NULL), INVAL);
    EXPECT(sysvring_frames_open_or_create(&o, NULL, NULL), INVAL);
    EXPECT(sysvring_frames_close(NULL), 0);
    EXPECT(sysvring_frames_create(&o, &ch), 0);
    sysvring_frame_sender *tx = NULL;
    sysvring_frame_receiver *rx = NULL;
    EXPECT(sysvring_frames_sender_open(NULL, &tx), INVAL);
    EXPECT(sysvring_frames_sender_open(ch, NULL), INVAL);
    EXPECT(sysvring_frames_receiver_open(NULL, &rx), INVAL);
    EXPECT(sysvring_frames_receiver_open(ch, NULL), INVAL);
    EXPECT(sysvring_frames_sender_open(ch, &tx), 0);
    EXPECT(sysvring_frames_receiver_open(ch, &rx), 0);
    uint8_t b[4] = {0};
    size_t n = 0;
    void *slot = NULL;
    EXPECT(sysvring_send_bytes(NULL, b, 1, 0), INVAL);
    EXPECT(sysvring_send_bytes(tx, NULL, 1, 0), INVAL);
    EXPECT(sysvring_frame_reserve(NULL, 1, &slot, 0), INVAL);
    EXPECT(sysvring_frame_reserve(tx, 1, NULL, 0), INVAL);
    EXPECT(sysvring_frame_commit(NULL, 0), INVAL);
    EXPECT(sysvring_frame_abort(NULL), INVAL);
    EXPECT(sysvring_recv_bytes(NULL, b, 1, &n, 0), INVAL);
    EXPECT(sysvring_recv_bytes(rx, NULL, 1, &n, 0), INVAL);
    EXPECT(sysvring_recv_bytes(rx, b, 1, NULL, 0), INVAL);
    EXPECT(sysvring_recv_bytes_in_place(NULL, read_copy, b, 0), INVAL);
    EXPECT(sysvring_recv_bytes_in_place(rx, NULL, b, 0), INVAL);
    uint64_t v;
    sysvring_stats st;
    EXPECT(sysvring_frames_max_len(NULL, &v), INVAL);
    EXPECT(sysvring_frames_max_len(ch, NULL), INVAL);
    EXPECT(sysvring_frames_capacity_bytes(NULL, &v), INVAL);
    EXPECT(sysvring_frames_capacity_bytes(ch, NULL), INVAL);
    EXPECT(sysvring_frames_len(NULL, &v), INVAL);
    EXPECT(sysvring_frames_len(ch, NULL), INVAL);
    EXPECT(sysvring_frames_stats_get(NULL, &st, sizeof st), INVAL);
    EXPECT(sysvring_frames_stats_get(ch, NULL, sizeof st), INVAL);
    EXPECT(sysvring_frames_keep(NULL), INVAL);
    EXPECT(sysvring_frames_remove(NULL), INVAL);
    EXPECT(sysvring_frames_sender_close(NULL), 0);
    EXPECT(sysvring_frames_receiver_close(NULL), 0);
    EXPECT(sysvring_frames_sender_close(tx), 0);
    EXPECT(sysvring_frames_receiver_close(rx), 0);
    EXPECT(sysvring_frames_close(ch), 0); /* the owner's close removes it */
    EXPECT(sysvring_frames_open(&o, &ch), SYSVRING_E_NOT_FOUND);
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "writer") == 0)
        return writer((int32_t)strtol(argv[2], NULL, 0), strtoull(argv[3], NULL, 0),
                      strtoull(argv[4], NULL, 0));
    if (argc >= 5 && strcmp(argv[1], "reader") == 0)
        return reader((int32_t)strtol(argv[2], NULL, 0), strtoull(argv[3], NULL, 0),
                      strtoull(argv[4], NULL, 0));
    if (argc >= 5 && strcmp(argv[1], "errors") == 0) {
        int32_t k[3];
        for (int i = 0; i < 3; i++) k[i] = (int32_t)strtol(argv[2 + i], NULL, 0);
        operations(k[0]);
        setup_errors(k[1], k[2]);
        bad_arguments(k[0]);
        if (failures) {
            fprintf(stderr, "%d failures\n", failures);
            return 1;
        }
        printf("ok\n");
        return 0;
    }
    fprintf(stderr, "usage: %s writer KEY COUNT SEED | reader KEY COUNT SEED | errors K1 K2 K3\n",
            argv[0]);
    return 2;
}
