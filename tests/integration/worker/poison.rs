//! Poison pills and rejected commands, interleaved with good commands on the same partitions:
//! garbage bytes, a wrong magic byte, an unknown schema id, a truncated frame and malformed
//! Avro go to the DLQ (original bytes, `dlq-reason`, `dlq-source-*` headers); a qty-0 command
//! and a command for an unknown sku become `CommandRejected` events; the good commands after
//! each of them are processed (the partition is not blocked).

use allocation_worker::adapters::codec::wire::frame;
use allocation_worker::adapters::mapping::default_partition;
use allocation_worker::domain::Event;

use super::checker::assert_exactly_once;
use super::support::cmd::{allocate, create_batch};
use super::support::PARTITIONS;
use super::{sku_on_partition, Setup, SHUTDOWN};
use crate::harness::worker::spawn_worker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_goes_to_the_dlq_rejections_become_events_and_nothing_blocks() {
    let mut s = Setup::new("poison").await;
    let mut worker = spawn_worker(&s.spec(0)).await;
    let lamp = "LAMP";
    let partition = default_partition(lamp.as_bytes(), PARTITIONS);
    // An unknown sku on the same partition as LAMP, so that it precedes good LAMP commands.
    let unknown = sku_on_partition("NOSUCH", partition);
    let good = s
        .codec
        .encode(
            &s.topics.commands,
            &allocation_worker::adapters::contracts::WireMessage::from(
                allocation_worker::adapters::contracts::records::Allocate {
                    orderid: "x".into(),
                    sku: lamp.into(),
                    qty: 1,
                },
            ),
        )
        .await
        .expect("encode");
    let allocate_schema_id = u32::from_be_bytes([good[1], good[2], good[3], good[4]]);
    let mut wrong_magic = good.clone();
    wrong_magic[0] = 1;
    let pills: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\xde\xad\xbe\xef not avro at all".to_vec()),
        ("wrong magic byte", wrong_magic),
        ("unknown schema id", frame(1_999_999_999, &good[5..])),
        ("truncated frame", vec![0, 0, 1]),
        (
            "malformed avro",
            frame(allocate_schema_id, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ),
    ];

    let p = &mut s.producer;
    p.command(create_batch("lamp-batch", lamp, 100, None)).await;
    let mut good_ids = vec![p.command(allocate("o0", lamp, 1)).await];
    let mut reasons = Vec::new();
    for (i, (what, bytes)) in pills.into_iter().enumerate() {
        // What the worker's own codec says about these bytes.
        let reason = s.codec.decode(Some(&bytes)).await.expect_err(what).reason();
        reasons.push((what, reason));
        p.poison(lamp, bytes, reason).await;
        good_ids.push(p.command(allocate(&format!("o{}", i + 1), lamp, 1)).await);
    }
    let zero = p.invalid_allocate("o-zero", lamp, 0).await;
    good_ids.push(p.command(allocate("o-after-zero", lamp, 1)).await);
    let nosuch = p.command(allocate("o-unknown", &unknown, 1)).await;
    good_ids.push(p.command(allocate("o-after-unknown", lamp, 1)).await);
    p.flush().await;
    assert_eq!(
        reasons.iter().map(|(_, r)| *r).take(3).collect::<Vec<_>>(),
        ["bad-magic-byte", "bad-magic-byte", "unknown-schema-id"],
        "{reasons:?}"
    );

    s.caught_up(&mut [&mut worker]).await;
    let observed = s.observed().await;
    let sent = s.producer.sent().to_vec();
    // Every poison record has its one DLQ record with the expected reason, every invalid
    // command its one CommandRejected, every good command its replayed outcome.
    assert_exactly_once(&sent, &observed, PARTITIONS);

    assert_eq!(observed.dlq.len(), 5, "{:?}", observed.dlq);
    for d in &observed.dlq {
        assert_eq!(d.source_topic.as_deref(), Some(s.topics.commands.as_str()));
        assert_eq!(d.source_partition, Some(partition));
        assert!(d.source_offset.is_some() && d.reason.is_some(), "{d:?}");
        let original = sent
            .iter()
            .find(|x| Some(x.offset) == d.source_offset && x.partition == partition)
            .expect("the DLQ record points at a sent record");
        assert_eq!(d.at.message_id, original.id, "original headers are kept");
    }
    let rejected = |id| match observed.events_caused_by(id).as_slice() {
        [Event::CommandRejected(r)] => (r.command_id == id).then(|| r.code.clone()),
        other => panic!("expected one CommandRejected for {id}, got {other:?}"),
    };
    assert_eq!(rejected(nosuch).as_deref(), Some("unknown_sku"));
    assert!(rejected(zero).is_some());
    for id in good_ids {
        assert!(
            matches!(
                observed.events_caused_by(id).as_slice(),
                [Event::Allocated(_)]
            ),
            "a good command after a bad one was not processed: {:?}",
            observed.events_caused_by(id)
        );
    }
    let (status, _) = worker.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the worker with 0, got {status}"
    );
}
