/* sample.h: the message the C examples exchange, and its field table.
 *
 * The Rust twin (same fingerprint, so a C and a Rust peer accept each other):
 *
 *     #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
 *     #[repr(C)]
 *     struct Sample { seq: u64, check: u64, value: f64, sensor: u32, tag: [u8; 4] }
 */
#ifndef SAMPLE_H
#define SAMPLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sysvring.h"

typedef struct Sample {
    uint64_t seq;
    uint64_t check;
    double value;
    uint32_t sensor;
    uint8_t tag[4];
} Sample;

static const sysvring_field SAMPLE_FIELDS[] = {
    SYSVRING_FIELD(Sample, seq, SYSVRING_U64),
    SYSVRING_FIELD(Sample, check, SYSVRING_U64),
    SYSVRING_FIELD(Sample, value, SYSVRING_F64),
    SYSVRING_FIELD(Sample, sensor, SYSVRING_U32),
    SYSVRING_FIELD_ARRAY(Sample, tag, SYSVRING_U8, 4),
};

static const sysvring_struct SAMPLE_TYPE = {
    "Sample", sizeof(Sample), _Alignof(Sample),
    sizeof SAMPLE_FIELDS / sizeof SAMPLE_FIELDS[0], SAMPLE_FIELDS,
};

/* The message number `i` (both sides compute it, so the reader checks contents). */
static inline Sample sample_make(uint64_t i) {
    Sample s;
    s.seq = i;
    s.check = i * 0x9E3779B97F4A7C15ull;
    s.value = (double)i * 0.5;
    s.sensor = (uint32_t)(i % 7);
    s.tag[0] = 'S';
    s.tag[1] = (uint8_t)i;
    s.tag[2] = (uint8_t)(i >> 8);
    s.tag[3] = 'E';
    return s;
}

static inline int sample_ok(const Sample *s, uint64_t i) {
    Sample want = sample_make(i);
    return s->seq == want.seq && s->check == want.check && s->value == want.value &&
           s->sensor == want.sensor && s->tag[0] == want.tag[0] && s->tag[1] == want.tag[1] &&
           s->tag[2] == want.tag[2] && s->tag[3] == want.tag[3];
}

/* Prints the failure of `what` (code and this thread's last error) and exits 1. */
static inline void sample_die(const char *what, int rc) {
    char detail[256];
    sysvring_last_error(detail, sizeof detail);
    fprintf(stderr, "%s: %s (%d): %s\n", what, sysvring_strerror(rc), rc, detail);
    exit(1);
}

/* "spsc"/"mpmc" and "shm"/"msgq"/"auto" from the command line. */
static inline uint32_t sample_flavor(const char *s) {
    return s[0] == 'm' ? SYSVRING_FLAVOR_MPMC : SYSVRING_FLAVOR_SPSC;
}
static inline uint32_t sample_transport(const char *s) {
    return s[0] == 'm' ? SYSVRING_TRANSPORT_MSGQ : s[0] == 's' ? SYSVRING_TRANSPORT_SHM
                                                               : SYSVRING_TRANSPORT_AUTO;
}

#endif
