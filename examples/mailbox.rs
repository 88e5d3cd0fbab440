//! A message queue as a mailbox: a sender posts messages of several types, and the
//! receiver picks them by type rather than in arrival order.
//!
//! Run: `cargo run --example mailbox`. The receiver creates a queue and starts the
//! sender (this program again, role `sender`), which opens the queue by key, posts
//! notes (type 1), orders (type 2), alerts (type 3) and an end marker (type 9),
//! interleaved, and exits. The receiver then reads the alerts first (`msgtyp` = 3),
//! then the orders, then everything except the end marker (`MSG_EXCEPT`), and the end
//! marker last; and removes the queue.

mod common;

use common::{set_main_role, spawn_self, who, Owned, Rendezvous, Result};
use sysvring::sys::{MsgQueue, RecvSelect};

const NOTE: i64 = 1;
const ORDER: i64 = 2;
const ALERT: i64 = 3;
const END: i64 = 9;

/// What the sender posts, in this order.
const MAIL: [(i64, &str); 8] = [
    (NOTE, "note: the meeting moved to 3pm"),
    (ORDER, "order: 4 widgets"),
    (ALERT, "alert: disk 90% full"),
    (NOTE, "note: lunch is on the house"),
    (ORDER, "order: 10 gadgets"),
    (ALERT, "alert: backup failed"),
    (ORDER, "order: 1 gizmo"),
    (END, "end of mail"),
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        None => receiver(),
        Some("sender") if args.len() == 4 => sender(&args[2], &args[3]),
        _ => Err("usage: mailbox [sender PATH ID]".into()),
    }
}

fn receiver() -> Result<()> {
    set_main_role("receiver");
    let mut owned = Owned::default();
    let (rv, q) = Rendezvous::create("mailbox", |key| {
        MsgQueue::create(key, 0o600).map(|q| owned.msg(q))
    })?;
    println!("{} created msqid={} key={}", who(), q.id(), rv.key());

    let [path, id] = rv.args();
    spawn_self(&["sender", &path, &id])?.wait_success()?;
    let st = q.stat()?;
    println!(
        "{} the sender (pid {}) left {} messages, {} bytes",
        who(),
        st.lspid,
        st.qnum,
        st.cbytes
    );

    let mut buf = [0u8; 256];
    // Takes every message `select` matches, without blocking.
    let mut drain = |label: &str, select: RecvSelect| -> Result<usize> {
        println!("{} {label} ({select:?}):", who());
        let mut n = 0;
        loop {
            match q.recv(&mut buf, select, true) {
                Ok((t, len)) => {
                    println!("    type {t}: {}", String::from_utf8_lossy(&buf[..len]));
                    n += 1;
                }
                Err(e) if e.is_would_block() => return Ok(n),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let alerts = drain("alerts first", RecvSelect::Type(ALERT))?;
    let orders = drain("then the orders", RecvSelect::Type(ORDER))?;
    let rest = drain(
        "then everything but the end marker",
        RecvSelect::Except(END),
    )?;
    let end = drain("and the end marker", RecvSelect::Any)?;
    println!(
        "{} read {alerts} alerts, {orders} orders, {rest} other, {end} end",
        who()
    );
    if alerts + orders + rest + end != MAIL.len() {
        return Err("messages went missing".into());
    }
    Ok(())
}

fn sender(path: &str, id: &str) -> Result<()> {
    let q = MsgQueue::open(Rendezvous::key_of(path, id)?)?;
    println!("{} opened msqid={}", who(), q.id());
    for (t, text) in MAIL {
        q.send(t, text.as_bytes(), true)?;
        println!("{} posted type {t}: {text}", who());
    }
    Ok(())
}
