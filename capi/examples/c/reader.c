/* reader.c: the classic System V reader, on sysvring.
 *
 *   reader KEY [EXPECT] [spsc|mpmc]
 *
 * Opens (or creates) the channel of `Sample` at KEY and receives until every
 * sender is gone (`SYSVRING_E_DISCONNECTED`), checking that message `i` is
 * `sample_make(i)`: in order and intact. Exits 0 when it got EXPECT messages (any
 * number when EXPECT is omitted), 1 otherwise.
 */
#include "sample.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s KEY [EXPECT] [spsc|mpmc]\n", argv[0]);
        return 2;
    }
    sysvring_options o;
    sysvring_options_init(&o);
    o.key = (int32_t)strtol(argv[1], NULL, 0);
    long long expect = argc > 2 ? strtoll(argv[2], NULL, 0) : -1;
    o.flavor = argc > 3 ? sample_flavor(argv[3]) : SYSVRING_FLAVOR_ANY;
    o.type = &SAMPLE_TYPE;

    sysvring_channel *ch;
    int rc = sysvring_open_or_create(&o, &ch, NULL);
    if (rc < 0) sample_die("open_or_create", rc);
    sysvring_receiver *rx;
    if ((rc = sysvring_receiver_open(ch, &rx)) < 0) sample_die("receiver_open", rc);
    uint64_t n = 0;
    Sample s;
    while ((rc = sysvring_recv(rx, &s, sizeof s)) == 0) {
        if (!sample_ok(&s, n)) {
            fprintf(stderr, "reader: message %llu is wrong (seq %llu)\n",
                    (unsigned long long)n, (unsigned long long)s.seq);
            return 1;
        }
        n++;
    }
    if (rc != SYSVRING_E_DISCONNECTED) sample_die("recv", rc);
    sysvring_receiver_close(rx);
    sysvring_channel_close(ch);
    printf("reader: received %llu\n", (unsigned long long)n);
    return expect < 0 || (uint64_t)expect == n ? 0 : 1;
}
