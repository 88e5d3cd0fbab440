/* api.c: the C side of tests/c_api.rs. Calls every function of sysvring.h
 * (compiled with -Wall -Wextra -Werror, so each prototype is exercised), asserts
 * the layout of the header's structs, and produces error codes from real
 * situations.
 *
 *   api fingerprints          prints "NAME HEX" for the test's structs
 *   api mismatch KEY          opens KEY (a Rust Channel<Sample>) with a changed
 *                             Sample: must be SYSVRING_E_TYPE_MISMATCH
 *   api errors K1 .. K8       every error code it can provoke, at unused keys K*,
 *                             and handles shared by threads; removes what it
 *                             makes; prints "ok" on success
 */
#define _DEFAULT_SOURCE
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sample.h"
#include "sysvring.h"

/* The layout capi/src declares (tests/c_api.rs asserts the same numbers in Rust). */
static_assert(sizeof(sysvring_options) == 88, "sysvring_options");
static_assert(offsetof(sysvring_options, key) == 8, "options.key");
static_assert(offsetof(sysvring_options, capacity) == 40, "options.capacity");
static_assert(offsetof(sysvring_options, type) == 48, "options.type");
static_assert(offsetof(sysvring_options, prim) == 56, "options.prim");
static_assert(offsetof(sysvring_options, reserved) == 60, "options.reserved");
static_assert(offsetof(sysvring_options, fingerprint) == 64, "options.fingerprint");
static_assert(offsetof(sysvring_options, type_name) == 72, "options.type_name");
static_assert(offsetof(sysvring_options, open_timeout_us) == 80, "options.open_timeout_us");
static_assert(sizeof(sysvring_field) == 64, "sysvring_field");
static_assert(offsetof(sysvring_field, offset) == 16, "field.offset");
static_assert(offsetof(sysvring_field, nested) == 56, "field.nested");
static_assert(sizeof(sysvring_struct) == 40, "sysvring_struct");
static_assert(offsetof(sysvring_struct, fields) == 32, "struct.fields");
static_assert(sizeof(sysvring_stats) == 48, "sysvring_stats");
static_assert(offsetof(sysvring_stats, receivers) == 44, "stats.receivers");

/* A nested struct with a two-dimensional array; its Rust twin is in c_api.rs. */
typedef struct Quote {
    Sample sample;
    int16_t levels[2][3];
    uint8_t flags[4];
} Quote;

static const sysvring_field QUOTE_FIELDS[] = {
    SYSVRING_FIELD_STRUCT(Quote, sample, &SAMPLE_TYPE),
    { "levels", SYSVRING_I16, 2, offsetof(Quote, levels), {2, 3}, NULL },
    SYSVRING_FIELD_ARRAY(Quote, flags, SYSVRING_U8, 4),
};

/* C's char: SYSVRING_CHAR (= SYSVRING_U8); its Rust twin `Named` has [u8; 8]. */
typedef struct Named {
    uint32_t id;
    char name[8];
    signed char delta;
    unsigned char level;
    uint8_t _reserved[2]; /* explicit: implicit padding would be refused */
} Named;

static const sysvring_field NAMED_FIELDS[] = {
    SYSVRING_FIELD(Named, id, SYSVRING_U32),
    SYSVRING_FIELD_ARRAY(Named, name, SYSVRING_CHAR, 8),
    SYSVRING_FIELD(Named, delta, SYSVRING_CHAR),
    SYSVRING_FIELD(Named, level, SYSVRING_CHAR),
    SYSVRING_FIELD_ARRAY(Named, _reserved, SYSVRING_U8, 2),
};
static const sysvring_struct NAMED_TYPE = {
    "Named", sizeof(Named), _Alignof(Named), 5, NAMED_FIELDS,
};
static const sysvring_struct QUOTE_TYPE = {
    "Quote", sizeof(Quote), _Alignof(Quote), 3, QUOTE_FIELDS,
};

static int failures = 0;

#define EXPECT(expr, want)                                                              \
    do {                                                                                \
        int got_ = (expr);                                                              \
        if (got_ != (want)) {                                                           \
            char d_[256];                                                               \
            sysvring_last_error(d_, sizeof d_);                                         \
            fprintf(stderr, "%s:%d: %s = %d (%s), want %d (%s); last error: %s\n",      \
                    __FILE__, __LINE__, #expr, got_, sysvring_strerror(got_), (want),   \
                    sysvring_strerror(want), d_);                                       \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

static void options_for(sysvring_options *o, int32_t key) {
    EXPECT(sysvring_options_init(o), 0);
    o->key = key;
    o->type = &SAMPLE_TYPE;
}

static int fingerprints(void) {
    uint64_t fp;
    int rc = sysvring_fingerprint(&SAMPLE_TYPE, &fp);
    if (rc < 0) sample_die("fingerprint", rc);
    printf("Sample %016llx\n", (unsigned long long)fp);
    if ((rc = sysvring_fingerprint(&QUOTE_TYPE, &fp)) < 0) sample_die("fingerprint", rc);
    printf("Quote %016llx\n", (unsigned long long)fp);
    if ((rc = sysvring_fingerprint(&NAMED_TYPE, &fp)) < 0) sample_die("fingerprint", rc);
    printf("Named %016llx\n", (unsigned long long)fp);
    return 0;
}

static int mismatch(int32_t key) {
    /* Sample with `sensor` declared int32_t instead of uint32_t. */
    sysvring_field changed[5];
    memcpy(changed, SAMPLE_FIELDS, sizeof changed);
    changed[3].type = SYSVRING_I32;
    sysvring_struct t = SAMPLE_TYPE;
    t.fields = changed;
    sysvring_options o;
    options_for(&o, key);
    o.type = &t;
    sysvring_channel *ch = NULL;
    EXPECT(sysvring_open(&o, &ch), SYSVRING_E_TYPE_MISMATCH);
    char d[256];
    sysvring_last_error(d, sizeof d);
    if (!strstr(d, "Sample")) {
        fprintf(stderr, "the mismatch does not name the type: %s\n", d);
        failures++;
    }
    /* A renamed field too. */
    changed[3].type = SYSVRING_U32;
    changed[3].name = "sensor_id";
    EXPECT(sysvring_open(&o, &ch), SYSVRING_E_TYPE_MISMATCH);
    /* The unchanged table opens. */
    o.type = &SAMPLE_TYPE;
    EXPECT(sysvring_open(&o, &ch), 0);
    int shm = sysvring_transport(ch) == (int)SYSVRING_TRANSPORT_SHM;
    EXPECT(sysvring_channel_close(ch), 0);
    /* Another struct of another size: still TYPE_MISMATCH (the type is compared
     * before the size), naming both types (the channel's: on shared memory, where
     * the creator recorded it). */
    typedef struct SampleV2 {
        uint64_t seq, check;
        double value;
        uint32_t sensor;
        uint8_t tag[4];
        uint64_t extra;
    } SampleV2;
    sysvring_field v2[6];
    memcpy(v2, SAMPLE_FIELDS, sizeof SAMPLE_FIELDS);
    sysvring_field extra = SYSVRING_FIELD(SampleV2, extra, SYSVRING_U64);
    v2[5] = extra;
    sysvring_struct t2 = { "SampleV2", sizeof(SampleV2), _Alignof(SampleV2), 6, v2 };
    o.type = &t2;
    EXPECT(sysvring_open(&o, &ch), SYSVRING_E_TYPE_MISMATCH);
    sysvring_last_error(d, sizeof d);
    if (!strstr(d, "`SampleV2`") || (shm && !strstr(d, "`Sample`")) || strstr(d, "Builder")) {
        fprintf(stderr, "the mismatch does not name both types in C terms: %s\n", d);
        failures++;
    }
    return failures ? 1 : 0;
}

static void fill_seq(void *slot, size_t size, void *ctx) {
    assert(size == sizeof(Sample));
    Sample s = sample_make(*(uint64_t *)ctx);
    memcpy(slot, &s, sizeof s);
}

static void read_seq(const void *msg, size_t size, void *ctx) {
    assert(size == sizeof(Sample));
    const Sample *s = msg;
    *(uint64_t *)ctx = sample_ok(s, s->seq) ? s->seq : UINT64_MAX;
}

/* Callbacks that call back into their own handle (and into the other side's). */
static sysvring_sender *reenter_tx;
static sysvring_receiver *reenter_rx;

static void fill_reenter(void *slot, size_t size, void *ctx) {
    int *r = ctx;
    Sample s = sample_make(8), got;
    memcpy(slot, &s, size);
    r[0] = sysvring_try_send(reenter_tx, &s, sizeof s);
    r[1] = sysvring_send_in_place(reenter_tx, fill_seq, NULL, 0);
    r[2] = sysvring_sender_close(reenter_tx);
    r[3] = sysvring_try_recv(reenter_rx, &got, sizeof got);
}

static void read_reenter(const void *msg, size_t size, void *ctx) {
    int *r = ctx;
    Sample s = sample_make(9), got;
    EXPECT(sample_ok(msg, 8) && size == sizeof s, 1);
    r[0] = sysvring_try_recv(reenter_rx, &got, sizeof got);
    r[1] = sysvring_recv_in_place(reenter_rx, read_seq, NULL, 0);
    r[2] = sysvring_receiver_close(reenter_rx);
    r[3] = sysvring_try_send(reenter_tx, &s, sizeof s);
}

/* Operations on one channel per transport: FULL, EMPTY, TIMEOUT, DISCONNECTED,
 * ROLE_TAKEN, LAYOUT_MISMATCH, ALREADY_EXISTS, REMOVED; the queries; in place. */
static void operations(int32_t key, uint32_t transport) {
    sysvring_options o;
    options_for(&o, key);
    o.capacity = 2;
    o.transport = transport;
    sysvring_channel *ch = NULL, *ch2 = NULL;
    EXPECT(sysvring_create(&o, &ch), 0);
    EXPECT(sysvring_create(&o, &ch2), SYSVRING_E_ALREADY_EXISTS);
    EXPECT(sysvring_transport(ch), (int)transport);
    int created = -1;
    EXPECT(sysvring_open_or_create(&o, &ch2, &created), 0);
    EXPECT(created, 0);
    EXPECT(sysvring_channel_close(ch2), 0);
    o.capacity = 3;
    EXPECT(sysvring_open(&o, &ch2), SYSVRING_E_LAYOUT_MISMATCH);
    EXPECT(sysvring_open_or_create(&o, &ch2, &created), SYSVRING_E_LAYOUT_MISMATCH);
    o.capacity = 0;

    sysvring_sender *tx = NULL, *tx2 = NULL;
    sysvring_receiver *rx = NULL, *rx2 = NULL;
    EXPECT(sysvring_sender_open(ch, &tx), 0);
    EXPECT(sysvring_sender_open(ch, &tx2), SYSVRING_E_ROLE_TAKEN);
    EXPECT(sysvring_receiver_open(ch, &rx), 0);
    EXPECT(sysvring_receiver_open(ch, &rx2), SYSVRING_E_ROLE_TAKEN);

    Sample s = sample_make(0), got;
    EXPECT(sysvring_try_recv(rx, &got, sizeof got), SYSVRING_E_EMPTY);
    EXPECT(sysvring_recv_timeout(rx, &got, sizeof got, 1000), SYSVRING_E_TIMEOUT);
    EXPECT(sysvring_try_send(tx, &s, sizeof s), 0);
    s = sample_make(1);
    EXPECT(sysvring_send_timeout(tx, &s, sizeof s, 1000), 0);
    uint64_t n = 0;
    EXPECT(sysvring_len(ch, &n), 0);
    EXPECT((int)n, 2);
    EXPECT(sysvring_capacity(ch, &n), 0);
    EXPECT((int)n, 2);
    EXPECT(sysvring_elem_size(ch, &n), 0);
    EXPECT((int)n, (int)sizeof(Sample));
    EXPECT(sysvring_try_send(tx, &s, sizeof s), SYSVRING_E_FULL);
    EXPECT(sysvring_send_timeout(tx, &s, sizeof s, 1000), SYSVRING_E_TIMEOUT);
    EXPECT(sysvring_recv(rx, &got, sizeof got), 0);
    EXPECT(sample_ok(&got, 0), 1);
    EXPECT(sysvring_try_recv(rx, &got, sizeof got), 0);
    EXPECT(sample_ok(&got, 1), 1);

    /* Zero-copy both ways. */
    uint64_t seq = 7, seen = 0;
    EXPECT(sysvring_send_in_place(tx, fill_seq, &seq, SYSVRING_FOREVER), 0);
    EXPECT(sysvring_recv_in_place(rx, read_seq, &seen, SYSVRING_FOREVER), 0);
    EXPECT((int)seen, 7);
    EXPECT(sysvring_recv_in_place(rx, read_seq, &seen, 1000), SYSVRING_E_TIMEOUT);

    sysvring_stats st;
    EXPECT(sysvring_stats_get(ch, &st, sizeof st), 0);
    EXPECT(st.senders == 1 && st.receivers == 1, 1);
    /* Counted on both transports: try_send, send_timeout, send_in_place; recv,
     * try_recv, recv_in_place. */
    EXPECT((int)st.sent, 3);
    EXPECT((int)st.received, 3);

    /* Re-entry from a callback: refused with REENTRANT on both transports, nothing
     * printed; the outer call completes. */
    reenter_tx = tx;
    reenter_rx = rx;
    int inner[4] = {0, 0, 0, 0};
    EXPECT(sysvring_send_in_place(tx, fill_reenter, inner, SYSVRING_FOREVER), 0);
    EXPECT(inner[0], SYSVRING_E_REENTRANT);
    EXPECT(inner[1], SYSVRING_E_REENTRANT);
    EXPECT(inner[2], SYSVRING_E_REENTRANT);
    EXPECT(inner[3], SYSVRING_E_EMPTY); /* the other side's handle is not re-entry */
    memset(inner, 0, sizeof inner);
    EXPECT(sysvring_recv_in_place(rx, read_reenter, inner, SYSVRING_FOREVER), 0);
    EXPECT(inner[0], SYSVRING_E_REENTRANT);
    EXPECT(inner[1], SYSVRING_E_REENTRANT);
    EXPECT(inner[2], SYSVRING_E_REENTRANT);
    EXPECT(inner[3], 0); /* the sender may send from the receiver's callback */
    EXPECT(sysvring_recv(rx, &got, sizeof got), 0);
    EXPECT(sample_ok(&got, 9), 1);
    EXPECT(sysvring_stats_get(ch, &st, sizeof st - 1), SYSVRING_E_INVALID_ARGUMENT);

    /* Disconnected: a receive once every sender is gone, a send once every receiver. */
    EXPECT(sysvring_sender_close(tx), 0);
    EXPECT(sysvring_recv(rx, &got, sizeof got), SYSVRING_E_DISCONNECTED);
    EXPECT(sysvring_try_recv(rx, &got, sizeof got), SYSVRING_E_DISCONNECTED);
    EXPECT(sysvring_sender_open(ch, &tx), 0);
    EXPECT(sysvring_receiver_close(rx), 0);
    EXPECT(sysvring_send(tx, &s, sizeof s), SYSVRING_E_DISCONNECTED);
    EXPECT(sysvring_try_send(tx, &s, sizeof s), SYSVRING_E_DISCONNECTED);
    EXPECT(sysvring_sender_close(tx), 0);

    /* Removed: connecting to a removed channel. */
    EXPECT(sysvring_remove(ch), 0);
    EXPECT(sysvring_sender_open(ch, &tx), SYSVRING_E_REMOVED);
    EXPECT(sysvring_channel_close(ch), 0);
    EXPECT(sysvring_open(&o, &ch), SYSVRING_E_NOT_FOUND);
}

/* NULL pointers and wrong sizes: an error code each, never a crash. */
static void bad_arguments(int32_t key) {
    const int INVAL = SYSVRING_E_INVALID_ARGUMENT;
    sysvring_options o;
    options_for(&o, key);
    sysvring_channel *ch = NULL;
    EXPECT(sysvring_options_init(NULL), INVAL);
    EXPECT(sysvring_create(NULL, &ch), INVAL);
    EXPECT(sysvring_create(&o, NULL), INVAL);
    EXPECT(sysvring_open(NULL, &ch), INVAL);
    EXPECT(sysvring_open_or_create(NULL, &ch, NULL), INVAL);
    EXPECT(sysvring_open_or_create(&o, NULL, NULL), INVAL);
    o.struct_size = 8;
    EXPECT(sysvring_create(&o, &ch), INVAL);
    o.struct_size = sizeof o;
    o.flavor = 9;
    EXPECT(sysvring_create(&o, &ch), INVAL);
    o.flavor = SYSVRING_FLAVOR_ANY;
    o.transport = 9;
    EXPECT(sysvring_create(&o, &ch), INVAL);
    o.transport = SYSVRING_TRANSPORT_AUTO;
    o.elem_size = sizeof(Sample) + 8;
    EXPECT(sysvring_create(&o, &ch), INVAL);
    o.elem_size = 0;
    o.type = NULL; /* a raw fingerprint without a size */
    EXPECT(sysvring_create(&o, &ch), INVAL);
    o.prim = 99;
    EXPECT(sysvring_create(&o, &ch), INVAL);
    o.prim = 0;
    o.type = &SAMPLE_TYPE;
    o.reserved = 1;
    EXPECT(sysvring_create(&o, &ch), INVAL);
    o.reserved = 0;
    /* A capacity no channel has: its own code, on create and open_or_create. */
    o.capacity = (1ull << 32) + 1;
    EXPECT(sysvring_create(&o, &ch), SYSVRING_E_CAPACITY_TOO_LARGE);
    o.capacity = UINT64_MAX;
    EXPECT(sysvring_open_or_create(&o, &ch, NULL), SYSVRING_E_CAPACITY_TOO_LARGE);
    char d[256];
    sysvring_last_error(d, sizeof d);
    if (!strstr(d, "capacity")) {
        fprintf(stderr, "no capacity in: %s\n", d);
        failures++;
    }
    o.capacity = 0;
    int32_t k;
    EXPECT(sysvring_key_ftok(NULL, 1, &k), INVAL);
    EXPECT(sysvring_key_ftok("/", 1, NULL), INVAL);
    uint64_t u;
    EXPECT(sysvring_fingerprint(NULL, &u), INVAL);
    EXPECT(sysvring_fingerprint(&SAMPLE_TYPE, NULL), INVAL);
    EXPECT(sysvring_len(NULL, &u), INVAL);
    EXPECT(sysvring_capacity(NULL, &u), INVAL);
    EXPECT(sysvring_elem_size(NULL, &u), INVAL);
    EXPECT(sysvring_transport(NULL), INVAL);
    EXPECT(sysvring_stats_get(NULL, NULL, sizeof(sysvring_stats)), INVAL);
    EXPECT(sysvring_keep(NULL), INVAL);
    EXPECT(sysvring_remove(NULL), INVAL);
    EXPECT(sysvring_sender_open(NULL, NULL), INVAL);
    EXPECT(sysvring_receiver_open(NULL, NULL), INVAL);
    EXPECT(sysvring_channel_close(NULL), 0);
    EXPECT(sysvring_sender_close(NULL), 0);
    EXPECT(sysvring_receiver_close(NULL), 0);
    Sample s = sample_make(0);
    EXPECT(sysvring_send(NULL, &s, sizeof s), INVAL);
    EXPECT(sysvring_try_send(NULL, &s, sizeof s), INVAL);
    EXPECT(sysvring_send_timeout(NULL, &s, sizeof s, 0), INVAL);
    EXPECT(sysvring_recv(NULL, &s, sizeof s), INVAL);
    EXPECT(sysvring_try_recv(NULL, &s, sizeof s), INVAL);
    EXPECT(sysvring_recv_timeout(NULL, &s, sizeof s, 0), INVAL);
    EXPECT(sysvring_send_in_place(NULL, fill_seq, NULL, 0), INVAL);
    EXPECT(sysvring_recv_in_place(NULL, read_seq, NULL, 0), INVAL);

    /* Real handles with NULL buffers, wrong sizes, NULL callbacks and out-pointers. */
    EXPECT(sysvring_create(&o, &ch), 0);
    sysvring_sender *tx;
    sysvring_receiver *rx;
    EXPECT(sysvring_sender_open(ch, NULL), INVAL);
    EXPECT(sysvring_receiver_open(ch, NULL), INVAL);
    EXPECT(sysvring_sender_open(ch, &tx), 0);
    EXPECT(sysvring_receiver_open(ch, &rx), 0);
    EXPECT(sysvring_len(ch, NULL), INVAL);
    EXPECT(sysvring_capacity(ch, NULL), INVAL);
    EXPECT(sysvring_elem_size(ch, NULL), INVAL);
    EXPECT(sysvring_stats_get(ch, NULL, sizeof(sysvring_stats)), INVAL);
    EXPECT(sysvring_send(tx, NULL, sizeof s), INVAL);
    EXPECT(sysvring_send(tx, &s, sizeof s - 1), INVAL);
    EXPECT(sysvring_try_send(tx, &s, sizeof s + 1), INVAL);
    EXPECT(sysvring_send_timeout(tx, &s, 0, 0), INVAL);
    EXPECT(sysvring_recv(rx, NULL, sizeof s), INVAL);
    EXPECT(sysvring_try_recv(rx, &s, 1), INVAL);
    EXPECT(sysvring_recv_timeout(rx, &s, sizeof s * 2, 0), INVAL);
    EXPECT(sysvring_send_in_place(tx, NULL, NULL, 0), INVAL);
    EXPECT(sysvring_recv_in_place(rx, NULL, NULL, 0), INVAL);
    EXPECT(sysvring_sender_close(tx), 0);
    EXPECT(sysvring_receiver_close(rx), 0);
    EXPECT(sysvring_channel_close(ch), 0);
}

/* Inconsistent field tables: SYSVRING_E_BAD_TYPE. */
static void bad_types(void) {
    uint64_t fp;
    sysvring_field f[5];
    sysvring_struct t;
#define RESET() (memcpy(f, SAMPLE_FIELDS, sizeof f), t = SAMPLE_TYPE, t.fields = f)
    RESET();
    EXPECT(sysvring_fingerprint(&t, &fp), 0);
    f[1].offset = 4; /* overlap */
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    RESET();
    f[2].name = "seq"; /* duplicate */
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    RESET();
    f[0].name = NULL;
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    RESET();
    f[0].name = "not an ident";
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    RESET();
    f[1].type = 77; /* unknown code */
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    RESET();
    f[4].ndims = 9;
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    RESET();
    f[0].type = SYSVRING_STRUCT; /* without `nested` */
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    RESET();
    t.size = 40; /* trailing padding */
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    RESET();
    t.align = 3;
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    RESET();
    t.fields = NULL;
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    RESET();
    t.nfields = 0;
    EXPECT(sysvring_fingerprint(&t, &fp), SYSVRING_E_BAD_TYPE);
    /* A struct that contains itself: a cycle, refused (not a stack overflow). */
    sysvring_field self_field = { "me", SYSVRING_STRUCT, 0, 0, {0}, NULL };
    sysvring_struct self_type = { "Loop", 8, 8, 1, &self_field };
    self_field.nested = &self_type;
    EXPECT(sysvring_fingerprint(&self_type, &fp), SYSVRING_E_BAD_TYPE);
    /* Implicit padding: refused, and the message gives the remedy. */
    typedef struct Padded { uint8_t kind; uint64_t seq; } Padded;
    const sysvring_field padded_fields[] = {
        SYSVRING_FIELD(Padded, kind, SYSVRING_U8),
        SYSVRING_FIELD(Padded, seq, SYSVRING_U64),
    };
    sysvring_struct padded = { "Padded", sizeof(Padded), _Alignof(Padded), 2, padded_fields };
    EXPECT(sysvring_fingerprint(&padded, &fp), SYSVRING_E_BAD_TYPE);
    char d[512];
    sysvring_last_error(d, sizeof d);
    if (!strstr(d, "padding") || !strstr(d, "_reserved[7]") || strstr(d, "Pod")) {
        fprintf(stderr, "the padding refusal gives no remedy in C terms: %s\n", d);
        failures++;
    }
    /* 66 entries describing 2^32 leaves (33 structs, each two fields of the next):
     * answered at once with an error, whether consistent or not. */
    enum { LEVELS = 33 };
    static sysvring_field wide_fields[LEVELS][2];
    static sysvring_struct wide[LEVELS];
    static char names[LEVELS][8];
    for (int i = LEVELS - 1; i >= 0; i--) {
        snprintf(names[i], sizeof names[i], "L%d", i);
        uint64_t half = i == LEVELS - 1 ? 8 : wide[i + 1].size;
        for (int j = 0; j < 2; j++) {
            sysvring_field f0 = { j ? "b" : "a", SYSVRING_U64, 0, j * half, {0}, NULL };
            if (i < LEVELS - 1) {
                f0.type = SYSVRING_STRUCT;
                f0.nested = &wide[i + 1];
            }
            wide_fields[i][j] = f0;
        }
        sysvring_struct w = { names[i], 2 * half, 8, 2, wide_fields[i] };
        wide[i] = w;
    }
    EXPECT(sysvring_fingerprint(&wide[0], &fp), SYSVRING_E_BAD_TYPE);
    wide[0].size += 8; /* and inconsistent at the top */
    EXPECT(sysvring_fingerprint(&wide[0], &fp), SYSVRING_E_BAD_TYPE);
    wide[0].size -= 8;
    /* The bottom 8 levels of it are small enough: one fingerprint. */
    EXPECT(sysvring_fingerprint(&wide[LEVELS - 8], &fp), 0);
    /* Through create, too. */
    RESET();
    f[1].offset = 4;
    sysvring_options o;
    options_for(&o, 0);
    o.type = &t;
    sysvring_channel *ch = NULL;
    EXPECT(sysvring_create(&o, &ch), SYSVRING_E_BAD_TYPE);
#undef RESET
}

/* One MPMC sender handle shared by four threads, one receiver handle by two. */
enum { SENDERS = 4, PER_SENDER = 5000, RECEIVERS = 2 };
static sysvring_sender *shared_tx;
static sysvring_receiver *shared_rx;

static void *send_part(void *arg) {
    uint64_t base = (uint64_t)(uintptr_t)arg * PER_SENDER;
    for (uint64_t i = 0; i < PER_SENDER; i++) {
        Sample s = sample_make(base + i);
        if (sysvring_send(shared_tx, &s, sizeof s) != 0) return (void *)1;
    }
    return NULL;
}

static void *recv_part(void *arg) {
    uint64_t *count = arg;
    Sample s;
    int rc;
    while ((rc = sysvring_recv(shared_rx, &s, sizeof s)) == 0) {
        if (!sample_ok(&s, s.seq)) return (void *)1;
        (*count)++;
    }
    return rc == SYSVRING_E_DISCONNECTED ? NULL : (void *)1;
}

/* A fill callback that calls back into its own SPSC sender. */
static void reenter(void *slot, size_t size, void *ctx) {
    Sample s = sample_make(0);
    memcpy(slot, &s, size);
    *(int *)ctx = sysvring_try_send(shared_tx, &s, sizeof s);
}

static void shared_handles(int32_t key) {
    sysvring_options o;
    options_for(&o, key);
    o.flavor = SYSVRING_FLAVOR_MPMC;
    o.capacity = 64;
    sysvring_channel *ch = NULL;
    EXPECT(sysvring_create(&o, &ch), 0);
    EXPECT(sysvring_sender_open(ch, &shared_tx), 0);
    EXPECT(sysvring_receiver_open(ch, &shared_rx), 0);
    pthread_t tx[SENDERS], rx[RECEIVERS];
    uint64_t got[RECEIVERS] = {0};
    for (int i = 0; i < RECEIVERS; i++)
        EXPECT(pthread_create(&rx[i], NULL, recv_part, &got[i]), 0);
    for (uintptr_t i = 0; i < SENDERS; i++)
        EXPECT(pthread_create(&tx[i], NULL, send_part, (void *)i), 0);
    for (int i = 0; i < SENDERS; i++) {
        void *r;
        pthread_join(tx[i], &r);
        EXPECT(r == NULL, 1);
    }
    EXPECT(sysvring_sender_close(shared_tx), 0);
    for (int i = 0; i < RECEIVERS; i++) {
        void *r;
        pthread_join(rx[i], &r);
        EXPECT(r == NULL, 1);
    }
    EXPECT((int)(got[0] + got[1]), SENDERS * PER_SENDER);
    EXPECT(sysvring_receiver_close(shared_rx), 0);
    EXPECT(sysvring_channel_close(ch), 0);

    /* Re-entering an SPSC sender from its own fill callback: REENTRANT, before
     * the library is reached (nothing printed). */
    options_for(&o, key);
    EXPECT(sysvring_create(&o, &ch), 0);
    EXPECT(sysvring_sender_open(ch, &shared_tx), 0);
    int inner = 0;
    EXPECT(sysvring_send_in_place(shared_tx, reenter, &inner, SYSVRING_FOREVER), 0);
    EXPECT(inner, SYSVRING_E_REENTRANT);
    uint64_t n = 0;
    EXPECT(sysvring_len(ch, &n), 0);
    EXPECT((int)n, 1);
    EXPECT(sysvring_sender_close(shared_tx), 0);
    EXPECT(sysvring_channel_close(ch), 0);
}

/* fork(): the child's inherited sender and receiver report DISCONNECTED; the
 * child connects its own from the inherited channel handle (MPMC: the parent's
 * stay connected); closing the inherited handles in the child harms nothing. */
static void forked(int32_t key, uint32_t transport) {
    sysvring_options o;
    options_for(&o, key);
    o.flavor = SYSVRING_FLAVOR_MPMC;
    o.transport = transport;
    o.capacity = 8;
    sysvring_channel *ch = NULL;
    sysvring_sender *tx = NULL;
    sysvring_receiver *rx = NULL;
    EXPECT(sysvring_create(&o, &ch), 0);
    EXPECT(sysvring_sender_open(ch, &tx), 0);
    EXPECT(sysvring_receiver_open(ch, &rx), 0);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        Sample s = sample_make(5), got;
        int bad = 0;
        bad |= sysvring_try_send(tx, &s, sizeof s) != SYSVRING_E_DISCONNECTED;
        bad |= sysvring_try_recv(rx, &got, sizeof got) != SYSVRING_E_DISCONNECTED;
        sysvring_sender *mine = NULL;
        bad |= sysvring_sender_open(ch, &mine) != 0;
        bad |= sysvring_send(mine, &s, sizeof s) != 0;
        bad |= sysvring_sender_close(mine) != 0;
        bad |= sysvring_sender_close(tx) != 0;
        bad |= sysvring_receiver_close(rx) != 0;
        bad |= sysvring_channel_close(ch) != 0; /* not the owner here: no removal */
        _exit(bad);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
    Sample got;
    EXPECT(sysvring_recv_timeout(rx, &got, sizeof got, SYSVRING_FOREVER), 0);
    EXPECT(sample_ok(&got, 5), 1);
    sysvring_stats st;
    EXPECT(sysvring_stats_get(ch, &st, sizeof st), 0);
    EXPECT(st.senders == 1 && st.receivers == 1, 1);
    EXPECT(sysvring_sender_close(tx), 0);
    EXPECT(sysvring_receiver_close(rx), 0);
    EXPECT(sysvring_channel_close(ch), 0);
    EXPECT(sysvring_open(&o, &ch), SYSVRING_E_NOT_FOUND);
}

/* A header word by offset (ring/layout.rs `Header`: the version is at 8). */
static void poke_u32(int32_t key, size_t offset, uint32_t v, uint32_t *old) {
    int id = shmget(key, 0, 0);
    assert(id >= 0);
    char *p = shmat(id, NULL, 0);
    assert(p != (void *)-1);
    memcpy(old, p + offset, 4);
    memcpy(p + offset, &v, 4);
    shmdt(p);
}

/* Setup errors that need a foreign or damaged object, another user, or the OS. */
static void setup_errors(int32_t k_raw, int32_t k_hdr, int32_t k_big, int32_t k_perm) {
    sysvring_options o;
    sysvring_channel *ch = NULL;

    /* NOT_READY: an all-zero segment looks like a creator still at work;
     * NOT_SYSVRING: a foreign segment of other bytes. */
    int id = shmget(k_raw, 1 << 20, IPC_CREAT | IPC_EXCL | 0600);
    assert(id >= 0);
    options_for(&o, k_raw);
    o.open_timeout_us = 20000;
    EXPECT(sysvring_open(&o, &ch), SYSVRING_E_NOT_READY);
    o.open_timeout_us = 0; /* do not wait */
    EXPECT(sysvring_open(&o, &ch), SYSVRING_E_NOT_READY);
    /* Version 1 of the options (80 bytes, open_timeout_ms where reserved is). */
    o.struct_size = 80;
    o.reserved = 20;
    EXPECT(sysvring_open(&o, &ch), SYSVRING_E_NOT_READY);
    o.struct_size = sizeof o;
    o.reserved = 0;
    o.open_timeout_us = 20000;
    char *raw = shmat(id, NULL, 0);
    assert(raw != (void *)-1);
    memset(raw, 0xAB, 4096);
    shmdt(raw);
    EXPECT(sysvring_open(&o, &ch), SYSVRING_E_NOT_SYSVRING);
    shmctl(id, IPC_RMID, NULL);

    /* VERSION_MISMATCH and NOT_READY: a channel's header, changed and restored. */
    options_for(&o, k_hdr);
    o.transport = SYSVRING_TRANSPORT_SHM;
    EXPECT(sysvring_create(&o, &ch), 0);
    uint32_t old;
    sysvring_channel *other = NULL;
    poke_u32(k_hdr, 8, 999, &old);
    EXPECT(sysvring_open(&o, &other), SYSVRING_E_VERSION_MISMATCH);
    poke_u32(k_hdr, 8, old, &old);
    EXPECT(sysvring_open(&o, &other), 0);
    EXPECT(sysvring_channel_close(other), 0);
    EXPECT(sysvring_channel_close(ch), 0);

    /* MESSAGE_TOO_LARGE: 1 MiB elements on the message queue (raw fingerprint). */
    EXPECT(sysvring_options_init(&o), 0);
    o.key = k_big;
    o.transport = SYSVRING_TRANSPORT_MSGQ;
    o.elem_size = 1 << 20;
    o.elem_align = 8;
    o.fingerprint = 0x1234;
    o.type_name = "Big";
    EXPECT(sysvring_create(&o, &ch), SYSVRING_E_MESSAGE_TOO_LARGE);

    /* OS: ftok with a project id whose low 8 bits are 0 (EINVAL from ftok). */
    int32_t k;
    EXPECT(sysvring_key_ftok("/", 0x100, &k), SYSVRING_E_OS);
    EXPECT(sysvring_key_ftok("/", 1, &k), 0);
    EXPECT(sysvring_key_ftok("/nonexistent/sysvring", 1, &k), SYSVRING_E_NOT_FOUND);

    /* PERMISSION_DENIED: another user opens a 0600 channel (root: a child that
     * drops to nobody; otherwise a channel made with mode 0). */
    options_for(&o, k_perm);
    o.mode = geteuid() == 0 ? 0600 : 0;
    EXPECT(sysvring_create(&o, &ch), 0);
    if (geteuid() == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
            sysvring_channel *c2 = NULL;
            _exit(sysvring_open(&o, &c2) == SYSVRING_E_PERMISSION_DENIED ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        EXPECT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
    } else {
        EXPECT(sysvring_open(&o, &other), SYSVRING_E_PERMISSION_DENIED);
    }
    /* keep + remove: keep gives up ownership, remove deletes anyway. */
    EXPECT(sysvring_keep(ch), 0);
    EXPECT(sysvring_remove(ch), 0);
    EXPECT(sysvring_channel_close(ch), 0);
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "fingerprints") == 0) return fingerprints();
    if (argc >= 3 && strcmp(argv[1], "mismatch") == 0)
        return mismatch((int32_t)strtol(argv[2], NULL, 0));
    if (argc >= 10 && strcmp(argv[1], "errors") == 0) {
        int32_t k[8];
        for (int i = 0; i < 8; i++) k[i] = (int32_t)strtol(argv[2 + i], NULL, 0);
        operations(k[0], SYSVRING_TRANSPORT_SHM);
        operations(k[1], SYSVRING_TRANSPORT_MSGQ);
        forked(k[0], SYSVRING_TRANSPORT_SHM);
        forked(k[1], SYSVRING_TRANSPORT_MSGQ);
        bad_arguments(k[2]);
        bad_types();
        setup_errors(k[3], k[4], k[5], k[6]);
        shared_handles(k[7]);
        char buf[8];
        size_t n = sysvring_last_error(buf, sizeof buf);
        EXPECT(n >= strlen(buf), 1);
        EXPECT(sysvring_strerror(12345) != NULL, 1);
        if (failures) {
            fprintf(stderr, "%d failures\n", failures);
            return 1;
        }
        printf("ok\n");
        return 0;
    }
    fprintf(stderr, "usage: %s fingerprints | mismatch KEY | errors K1 .. K8\n", argv[0]);
    return 2;
}
