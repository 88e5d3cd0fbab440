/* counter.c: the classic shared counter, on a sysvring channel of `uint64_t`
 * (the same type as a Rust `Channel<u64>`).
 *
 *   counter add KEY N     sends the increments 1, 2, ..., N
 *   counter sum KEY       adds up what arrives until every adder is gone, prints it
 *
 * Any number of adders may run at once (MPMC); the sum is N(N+1)/2 per adder.
 */
#include <string.h>

#include "sample.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s add KEY N | %s sum KEY\n", argv[0], argv[0]);
        return 2;
    }
    sysvring_options o;
    sysvring_options_init(&o);
    o.key = (int32_t)strtol(argv[2], NULL, 0);
    o.flavor = SYSVRING_FLAVOR_MPMC;
    o.prim = SYSVRING_U64;
    sysvring_channel *ch;
    int rc = sysvring_open_or_create(&o, &ch, NULL);
    if (rc < 0) sample_die("open_or_create", rc);

    if (strcmp(argv[1], "add") == 0 && argc > 3) {
        uint64_t n = strtoull(argv[3], NULL, 0);
        sysvring_sender *tx;
        if ((rc = sysvring_sender_open(ch, &tx)) < 0) sample_die("sender_open", rc);
        for (uint64_t i = 1; i <= n; i++)
            if ((rc = sysvring_send(tx, &i, sizeof i)) < 0) sample_die("send", rc);
        sysvring_sender_close(tx);
    } else if (strcmp(argv[1], "sum") == 0) {
        sysvring_receiver *rx;
        if ((rc = sysvring_receiver_open(ch, &rx)) < 0) sample_die("receiver_open", rc);
        uint64_t v, sum = 0;
        while ((rc = sysvring_recv(rx, &v, sizeof v)) == 0) sum += v;
        if (rc != SYSVRING_E_DISCONNECTED) sample_die("recv", rc);
        sysvring_receiver_close(rx);
        printf("%llu\n", (unsigned long long)sum);
    } else {
        fprintf(stderr, "unknown command %s\n", argv[1]);
        return 2;
    }
    sysvring_channel_close(ch);
    return 0;
}
