//! Tests of the TFTP read transfer.

use super::*;
use crate::wire::tftp::{error_packet, Packet};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|&(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn config(max_blksize: u16, max_windowsize: u16) -> TransferConfig {
    TransferConfig {
        max_blksize,
        max_windowsize,
        ..TransferConfig::default()
    }
}

fn ack(block: u16) -> Vec<u8> {
    let mut out = Vec::new();
    Packet::Ack { block }.emit(&mut out);
    out
}

fn drain(transfer: &mut Transfer) -> Vec<Transmit> {
    std::iter::from_fn(|| transfer.poll_transmit()).collect()
}

/// The wire block numbers of a batch of DATA transmits.
fn blocks(transmits: &[Transmit]) -> Vec<u16> {
    transmits
        .iter()
        .map(|transmit| match transmit {
            Transmit::Data { block, .. } => *block,
            other => panic!("expected DATA, got {other:?}"),
        })
        .collect()
}

/// The options of the single OACK in `transmits`.
fn oack_options(transmits: &[Transmit]) -> Vec<(String, String)> {
    match transmits {
        [Transmit::Oack(bytes)] => match Packet::parse(bytes) {
            Ok(Packet::Oack { options }) => options,
            other => panic!("not an OACK: {other:?}"),
        },
        other => panic!("expected one OACK, got {other:?}"),
    }
}

fn data(block: u16, offset: u64, len: usize) -> Transmit {
    Transmit::Data { block, offset, len }
}

#[test]
fn optionless_rrq_gets_data_1_directly() {
    // The Raspberry Pi 3 ROM asks for bootcode.bin without options.
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&[], 1300, &TransferConfig::default(), t0);
    assert!(!transfer.negotiated().oack);
    assert_eq!(transfer.negotiated().blksize, 512);
    assert_eq!(transfer.negotiated().windowsize, 1);
    assert_eq!(drain(&mut transfer), [data(1, 0, 512)]);
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(1)));

    transfer.handle_datagram(t0 + millis(1), &ack(1));
    assert_eq!(drain(&mut transfer), [data(2, 512, 512)]);
    assert_eq!(transfer.poll_timeout(), Some(t0 + millis(1) + secs(1)));
    transfer.handle_datagram(t0 + millis(2), &ack(2));
    assert_eq!(drain(&mut transfer), [data(3, 1024, 276)]);
    transfer.handle_datagram(t0 + millis(3), &ack(3));
    assert!(drain(&mut transfer).is_empty());
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::Completed {
            bytes: 1300,
            retransmits: 0
        })
    );
    assert_eq!(transfer.poll_timeout(), None);
    assert_eq!(transfer.acked_blocks(), 3);
}

#[test]
fn oack_lists_accepted_options_in_client_order() {
    let t0 = Instant::now();
    let asked = options(&[
        ("WindowSize", "8"),
        ("foo", "bar"),
        ("TSIZE", "0"),
        ("multicast", ""),
        ("Timeout", "3"),
        ("blksize", "1468"),
        ("BLKSIZE", "512"),
    ]);
    let mut transfer = Transfer::new(&asked, 5000, &config(1024, 4), t0);
    assert_eq!(
        oack_options(&drain(&mut transfer)),
        options(&[
            ("windowsize", "4"),
            ("tsize", "5000"),
            ("timeout", "3"),
            ("blksize", "1024"),
        ])
    );
    assert_eq!(
        transfer.negotiated(),
        Negotiated {
            blksize: 1024,
            windowsize: 4,
            timeout: Some(3),
            tsize: Some(5000),
            oack: true,
        }
    );
    // Nothing else until ACK 0; then the first window.
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(3)));
    transfer.handle_datagram(t0 + millis(5), &ack(0));
    assert_eq!(
        drain(&mut transfer),
        [
            data(1, 0, 1024),
            data(2, 1024, 1024),
            data(3, 2048, 1024),
            data(4, 3072, 1024),
        ]
    );
}

#[test]
fn oack_bytes_for_uboot_request() {
    // U-Boot: timeout 5, blksize 1468, tsize 0 (PROTOCOLS.md section 3).
    let t0 = Instant::now();
    let asked = options(&[("timeout", "5"), ("blksize", "1468"), ("tsize", "0")]);
    let mut transfer = Transfer::new(&asked, 123_456, &config(1468, 64), t0);
    assert_eq!(
        drain(&mut transfer),
        [Transmit::Oack(
            b"\x00\x06timeout\x005\x00blksize\x001468\x00tsize\x00123456\x00".to_vec()
        )]
    );
}

fn negotiated_blksize(asked: &str, max_blksize: u16) -> (u16, bool) {
    let asked = options(&[("blksize", asked)]);
    let transfer = Transfer::new(&asked, 0, &config(max_blksize, 64), Instant::now());
    (transfer.negotiated().blksize, transfer.negotiated().oack)
}

#[test]
fn blksize_is_clamped_to_config() {
    assert_eq!(negotiated_blksize("1468", 1024), (1024, true));
}

#[test]
fn blksize_below_config_is_kept() {
    assert_eq!(negotiated_blksize("512", 1468), (512, true));
    assert_eq!(negotiated_blksize("8", 1468), (8, true));
}

#[test]
fn blksize_too_small_or_unparsable_is_ignored() {
    assert_eq!(negotiated_blksize("4", 1468), (512, false));
    assert_eq!(negotiated_blksize("7", 1468), (512, false));
    assert_eq!(negotiated_blksize("", 1468), (512, false));
    assert_eq!(negotiated_blksize("-1", 1468), (512, false));
    assert_eq!(negotiated_blksize("1k", 1468), (512, false));
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&options(&[("blksize", "4")]), 600, &config(1468, 64), t0);
    assert_eq!(drain(&mut transfer), [data(1, 0, 512)]);
}

#[test]
fn blksize_above_rfc_limit_counts_as_65464() {
    assert_eq!(negotiated_blksize("65465", 65464), (65464, true));
    assert_eq!(negotiated_blksize("65535", 65535), (65464, true));
    assert_eq!(
        negotiated_blksize("99999999999999999999999", 65464),
        (65464, true)
    );
    assert_eq!(negotiated_blksize("70000", 1468), (1468, true));
}

#[test]
fn timeout_is_echoed_exactly() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&options(&[("timeout", "5")]), 10, &config(1468, 64), t0);
    assert_eq!(
        oack_options(&drain(&mut transfer)),
        options(&[("timeout", "5")])
    );
    assert_eq!(transfer.negotiated().timeout, Some(5));
    // The negotiated timeout is the retransmission base.
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(5)));

    // Up to the configured limit, which may be RFC 2349's 255.
    let patient = TransferConfig {
        max_client_timeout: 255,
        ..config(1468, 64)
    };
    let mut transfer = Transfer::new(&options(&[("timeout", "255")]), 10, &patient, t0);
    assert_eq!(
        oack_options(&drain(&mut transfer)),
        options(&[("timeout", "255")])
    );
    // Leading zeros are normalised to the integer.
    let mut transfer = Transfer::new(&options(&[("timeout", "05")]), 10, &config(1468, 64), t0);
    assert_eq!(
        oack_options(&drain(&mut transfer)),
        options(&[("timeout", "5")])
    );
}

#[test]
fn timeout_out_of_range_is_ignored() {
    let t0 = Instant::now();
    for asked in ["0", "256", "1000", "x", ""] {
        let mut transfer =
            Transfer::new(&options(&[("timeout", asked)]), 10, &config(1468, 64), t0);
        assert_eq!(transfer.negotiated().timeout, None, "{asked}");
        assert_eq!(drain(&mut transfer), [data(1, 0, 10)], "{asked}");
        assert_eq!(transfer.poll_timeout(), Some(t0 + secs(1)), "{asked}");
    }
}

#[test]
fn tsize_only_rrq_gets_oack_with_size() {
    // bootcode.bin's own RRQs carry only `tsize 0` (fw#1041, fw#745).
    let t0 = Instant::now();
    let asked = options(&[("tsize", "0")]);
    let mut transfer = Transfer::new(&asked, 52_456, &TransferConfig::default(), t0);
    assert_eq!(
        drain(&mut transfer),
        [Transmit::Oack(b"\x00\x06tsize\x0052456\x00".to_vec())]
    );
    assert_eq!(transfer.negotiated().tsize, Some(52_456));
    assert_eq!(transfer.negotiated().blksize, 512);
    transfer.handle_datagram(t0 + millis(1), &ack(0));
    assert_eq!(drain(&mut transfer), [data(1, 0, 512)]);
}

#[test]
fn tsize_answers_file_size_whatever_was_sent() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&options(&[("tsize", "garbage")]), 7, &config(1468, 64), t0);
    assert_eq!(
        oack_options(&drain(&mut transfer)),
        options(&[("tsize", "7")])
    );
}

#[test]
fn windowsize_is_clamped_and_range_checked() {
    let t0 = Instant::now();
    let window = |asked: &str, max: u16| {
        Transfer::new(
            &options(&[("windowsize", asked)]),
            0,
            &config(1468, max),
            t0,
        )
        .negotiated()
    };
    assert_eq!(window("16", 64).windowsize, 16);
    assert_eq!(window("200", 64).windowsize, 64);
    assert_eq!(window("1", 64).windowsize, 1);
    assert!(window("1", 64).oack);
    assert!(!window("0", 64).oack);
    assert!(!window("65536", 64).oack);
    assert_eq!(window("65536", 64).windowsize, 1);
}

#[test]
fn empty_file_is_one_empty_block() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&[], 0, &TransferConfig::default(), t0);
    assert_eq!(transfer.block_count(), 1);
    assert_eq!(drain(&mut transfer), [data(1, 0, 0)]);
    transfer.handle_datagram(t0 + millis(1), &ack(1));
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::Completed {
            bytes: 0,
            retransmits: 0
        })
    );
}

#[test]
fn exact_multiple_size_ends_with_empty_block() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&[], 1024, &TransferConfig::default(), t0);
    assert_eq!(transfer.block_count(), 3);
    assert_eq!(drain(&mut transfer), [data(1, 0, 512)]);
    transfer.handle_datagram(t0 + millis(1), &ack(1));
    assert_eq!(drain(&mut transfer), [data(2, 512, 512)]);
    transfer.handle_datagram(t0 + millis(2), &ack(2));
    assert_eq!(drain(&mut transfer), [data(3, 1024, 0)]);
    assert_eq!(transfer.outcome(), None);
    transfer.handle_datagram(t0 + millis(3), &ack(3));
    assert!(matches!(
        transfer.outcome(),
        Some(Outcome::Completed { bytes: 1024, .. })
    ));
}

#[test]
fn block_numbers_roll_over_past_65535() {
    // 70000 blocks of 8 bytes, the last one 3 bytes long.
    let t0 = Instant::now();
    let size = 69_999 * 8 + 3;
    let mut transfer = Transfer::new(&options(&[("blksize", "8")]), size, &config(1468, 64), t0);
    assert_eq!(transfer.block_count(), 70_000);
    assert_eq!(
        oack_options(&drain(&mut transfer)),
        options(&[("blksize", "8")])
    );
    transfer.handle_datagram(t0, &ack(0));

    let mut wire_numbers = Vec::new();
    for index in 1..=70_000u64 {
        let now = t0 + millis(index);
        let sent = drain(&mut transfer);
        let expected_len = if index == 70_000 { 3 } else { 8 };
        assert_eq!(sent, [data(index as u16, (index - 1) * 8, expected_len)]);
        let block = blocks(&sent)[0];
        if (65_534..=65_538).contains(&index) {
            wire_numbers.push(block);
        }
        transfer.handle_datagram(now, &ack(block));
    }
    assert_eq!(wire_numbers, [65_534, 65_535, 0, 1, 2]);
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::Completed {
            bytes: size,
            retransmits: 0
        })
    );
    assert_eq!(transfer.acked_blocks(), 70_000);
}

#[test]
fn windows_roll_over_past_65535() {
    // A window straddling the wrap is acknowledged by its wire number.
    let t0 = Instant::now();
    let asked = options(&[("blksize", "8"), ("windowsize", "64")]);
    let mut transfer = Transfer::new(&asked, 70_000 * 8, &config(1468, 64), t0);
    drain(&mut transfer);
    transfer.handle_datagram(t0, &ack(0));
    let mut last = 0u16;
    while transfer.outcome().is_none() {
        let sent = blocks(&drain(&mut transfer));
        assert_eq!(sent.first(), Some(&last.wrapping_add(1)));
        last = *sent.last().unwrap();
        transfer.handle_datagram(t0 + secs(1), &ack(last));
    }
    // An exact multiple of blksize: 70001 blocks, the last one empty.
    assert_eq!(last, (70_001u64 % 65_536) as u16);
    assert!(matches!(
        transfer.outcome(),
        Some(Outcome::Completed { .. })
    ));
}

#[test]
fn window_resends_from_the_gap() {
    // windowsize 4; block 3 is lost, the client ACKs 2 (RFC 7440).
    let t0 = Instant::now();
    let asked = options(&[("windowsize", "4")]);
    let mut transfer = Transfer::new(&asked, 512 * 10, &TransferConfig::default(), t0);
    drain(&mut transfer);
    transfer.handle_datagram(t0, &ack(0));
    assert_eq!(blocks(&drain(&mut transfer)), [1, 2, 3, 4]);

    transfer.handle_datagram(t0 + millis(10), &ack(2));
    assert_eq!(transfer.acked_blocks(), 2);
    assert_eq!(blocks(&drain(&mut transfer)), [3, 4, 5, 6]);
    assert_eq!(transfer.poll_timeout(), Some(t0 + millis(10) + secs(1)));

    transfer.handle_datagram(t0 + millis(20), &ack(6));
    assert_eq!(blocks(&drain(&mut transfer)), [7, 8, 9, 10]);
    transfer.handle_datagram(t0 + millis(30), &ack(10));
    assert_eq!(blocks(&drain(&mut transfer)), [11]);
    transfer.handle_datagram(t0 + millis(40), &ack(11));
    // Blocks 3 and 4 went out twice.
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::Completed {
            bytes: 5120,
            retransmits: 2
        })
    );
}

#[test]
fn window_is_cut_at_the_last_block() {
    let t0 = Instant::now();
    let asked = options(&[("windowsize", "8")]);
    let mut transfer = Transfer::new(&asked, 1000, &TransferConfig::default(), t0);
    drain(&mut transfer);
    transfer.handle_datagram(t0, &ack(0));
    assert_eq!(drain(&mut transfer), [data(1, 0, 512), data(2, 512, 488)]);
}

#[test]
fn duplicate_ack_causes_no_transmit() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
    drain(&mut transfer);
    transfer.handle_datagram(t0 + millis(1), &ack(1));
    assert_eq!(blocks(&drain(&mut transfer)), [2]);
    let deadline = transfer.poll_timeout();

    transfer.handle_datagram(t0 + millis(2), &ack(1));
    assert!(drain(&mut transfer).is_empty());
    // The timer is not restarted either.
    assert_eq!(transfer.poll_timeout(), deadline);
    assert_eq!(transfer.acked_blocks(), 1);

    transfer.handle_datagram(t0 + millis(3), &ack(2));
    assert_eq!(blocks(&drain(&mut transfer)), [3]);
}

#[test]
fn duplicate_ack_0_after_oack_is_ignored() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(
        &options(&[("tsize", "0")]),
        5000,
        &TransferConfig::default(),
        t0,
    );
    drain(&mut transfer);
    transfer.handle_datagram(t0, &ack(0));
    assert_eq!(blocks(&drain(&mut transfer)), [1]);
    transfer.handle_datagram(t0 + millis(1), &ack(0));
    assert!(drain(&mut transfer).is_empty());
}

#[test]
fn reordered_old_ack_is_ignored() {
    let t0 = Instant::now();
    let asked = options(&[("windowsize", "4")]);
    let mut transfer = Transfer::new(&asked, 512 * 20, &TransferConfig::default(), t0);
    drain(&mut transfer);
    transfer.handle_datagram(t0, &ack(0));
    assert_eq!(blocks(&drain(&mut transfer)), [1, 2, 3, 4]);
    transfer.handle_datagram(t0 + millis(1), &ack(4));
    assert_eq!(blocks(&drain(&mut transfer)), [5, 6, 7, 8]);

    // An ACK 2 that was overtaken by ACK 4 arrives late.
    transfer.handle_datagram(t0 + millis(2), &ack(2));
    assert!(drain(&mut transfer).is_empty());
    assert_eq!(transfer.acked_blocks(), 4);
}

#[test]
fn ack_for_unsent_block_is_ignored() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
    drain(&mut transfer);
    for block in [2, 3, 9, 65_535] {
        transfer.handle_datagram(t0 + millis(1), &ack(block));
        assert!(drain(&mut transfer).is_empty());
    }
    assert_eq!(transfer.acked_blocks(), 0);
}

#[test]
fn other_datagrams_are_ignored() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
    drain(&mut transfer);
    for datagram in [
        &b""[..],
        b"\x00",
        b"\x00\x03\x00\x01data",
        b"\x00\x01file\x00octet\x00",
        b"\x00\x02file\x00octet\x00",
        b"\x00\x06tsize\x000\x00",
        b"\x00\x09",
    ] {
        transfer.handle_datagram(t0 + millis(1), datagram);
        assert!(drain(&mut transfer).is_empty());
        assert_eq!(transfer.outcome(), None);
    }
}

#[test]
fn timeout_resends_window_backs_off_and_gives_up() {
    let t0 = Instant::now();
    let asked = options(&[("windowsize", "3")]);
    let mut transfer = Transfer::new(&asked, 512 * 10, &TransferConfig::default(), t0);
    drain(&mut transfer);
    transfer.handle_datagram(t0, &ack(0));
    assert_eq!(blocks(&drain(&mut transfer)), [1, 2, 3]);
    transfer.handle_datagram(t0, &ack(1));
    assert_eq!(blocks(&drain(&mut transfer)), [2, 3, 4]);

    // Silence: resend after 1 s, then 2, 4, 8, and give up on the
    // fifth timeout (max_retries 5), 10 s after the fourth resend.
    let mut now = t0;
    for interval in [1, 2, 4, 8] {
        now += secs(interval);
        assert_eq!(transfer.poll_timeout(), Some(now));
        transfer.handle_timeout(now);
        assert_eq!(blocks(&drain(&mut transfer)), [2, 3, 4]);
    }
    now += secs(10);
    assert_eq!(transfer.poll_timeout(), Some(now));
    transfer.handle_timeout(now);
    assert!(drain(&mut transfer).is_empty());
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::TimedOut { acked_blocks: 1 })
    );
    assert_eq!(transfer.poll_timeout(), None);

    // Late packets change nothing.
    transfer.handle_datagram(now + secs(1), &ack(4));
    assert!(drain(&mut transfer).is_empty());
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::TimedOut { acked_blocks: 1 })
    );
}

#[test]
fn backoff_is_capped_at_the_negotiated_timeout_if_longer() {
    let t0 = Instant::now();
    let asked = options(&[("timeout", "30")]);
    let config = TransferConfig {
        max_retries: 10,
        max_client_timeout: 30,
        stall_limit: secs(300),
        ..TransferConfig::default()
    };
    let mut transfer = Transfer::new(&asked, 100, &config, t0);
    drain(&mut transfer);
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(30)));
    transfer.handle_timeout(t0 + secs(30));
    assert_eq!(drain(&mut transfer).len(), 1);
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(60)));
}

#[test]
fn a_timeout_past_the_limit_is_declined() {
    let t0 = Instant::now();
    let limited = TransferConfig {
        max_client_timeout: 10,
        ..config(1468, 64)
    };
    let asked = options(&[("timeout", "255"), ("tsize", "0")]);
    let mut transfer = Transfer::new(&asked, 10, &limited, t0);
    // Declined: left out of the OACK, and the base stays the default.
    assert_eq!(
        oack_options(&drain(&mut transfer)),
        options(&[("tsize", "10")])
    );
    assert_eq!(transfer.negotiated().timeout, None);
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(1)));
    // At the limit it is accepted.
    let mut transfer = Transfer::new(&options(&[("timeout", "10")]), 10, &limited, t0);
    assert_eq!(
        oack_options(&drain(&mut transfer)),
        options(&[("timeout", "10")])
    );
}

#[test]
fn a_transfer_without_progress_stalls_with_an_error() {
    let t0 = Instant::now();
    let config = TransferConfig {
        max_retries: 100,
        max_client_timeout: 10,
        stall_limit: secs(25),
        ..TransferConfig::default()
    };
    let mut transfer = Transfer::new(&options(&[("timeout", "10")]), 5000, &config, t0);
    drain(&mut transfer);
    // ACK 0, then block 1 is acknowledged at 3 s: progress.
    transfer.handle_datagram(t0 + secs(1), &ack(0));
    drain(&mut transfer);
    transfer.handle_datagram(t0 + secs(3), &ack(1));
    assert_eq!(blocks(&drain(&mut transfer)), [2]);
    // Duplicate ACKs keep arriving but move nothing: no progress.
    let mut now = t0 + secs(3);
    while transfer.outcome().is_none() {
        let deadline = transfer.poll_timeout().expect("running");
        assert!(deadline <= t0 + secs(28), "ran past the stall limit");
        transfer.handle_datagram(now, &ack(1));
        now = deadline;
        transfer.handle_timeout(now);
        for transmit in drain(&mut transfer) {
            if let Transmit::Error(bytes) = transmit {
                match Packet::parse(&bytes) {
                    Ok(Packet::Error { code, message }) => {
                        assert_eq!(code, ErrorCode::NotDefined);
                        assert!(message.contains("no acknowledgement for 25 s"), "{message}");
                    }
                    other => panic!("not an ERROR: {other:?}"),
                }
                assert_eq!(now, t0 + secs(28));
            }
        }
    }
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::Stalled { acked_blocks: 1 })
    );
    assert_eq!(transfer.poll_timeout(), None);
    assert_eq!(transfer.poll_transmit(), None, "the ERROR goes out once");
}

#[test]
fn an_unacknowledged_oack_stalls_too() {
    let t0 = Instant::now();
    let config = TransferConfig {
        max_retries: 1000,
        stall_limit: secs(30),
        ..TransferConfig::default()
    };
    let mut transfer = Transfer::new(&options(&[("tsize", "0")]), 5000, &config, t0);
    let mut sent_error = false;
    for _ in 0..100 {
        let Some(deadline) = transfer.poll_timeout() else {
            break;
        };
        transfer.handle_timeout(deadline);
        sent_error |= drain(&mut transfer)
            .iter()
            .any(|t| matches!(t, Transmit::Error(_)));
    }
    assert!(sent_error);
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::Stalled { acked_blocks: 0 })
    );
}

#[test]
fn progress_resets_backoff() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
    drain(&mut transfer);
    transfer.handle_timeout(t0 + secs(1));
    assert_eq!(blocks(&drain(&mut transfer)), [1]);
    transfer.handle_timeout(t0 + secs(3));
    assert_eq!(blocks(&drain(&mut transfer)), [1]);
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(7)));

    transfer.handle_datagram(t0 + secs(4), &ack(1));
    assert_eq!(blocks(&drain(&mut transfer)), [2]);
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(5)));
    // Four more timeouts in a row are allowed again.
    let mut now = t0 + secs(4);
    for interval in [1, 2, 4, 8] {
        now += secs(interval);
        transfer.handle_timeout(now);
        assert_eq!(blocks(&drain(&mut transfer)), [2]);
    }
    assert_eq!(transfer.outcome(), None);
    transfer.handle_datagram(now, &ack(2));
    assert_eq!(blocks(&drain(&mut transfer)), [3]);
}

#[test]
fn early_timeout_call_is_ignored() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
    drain(&mut transfer);
    transfer.handle_timeout(t0 + millis(999));
    assert!(drain(&mut transfer).is_empty());
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(1)));
}

#[test]
fn client_error_after_block_1_aborts() {
    // The Pi probes a file by reading block 1 and aborting.
    let t0 = Instant::now();
    let mut transfer = Transfer::new(&[], 5000, &TransferConfig::default(), t0);
    assert_eq!(blocks(&drain(&mut transfer)), [1]);
    transfer.handle_datagram(t0 + millis(1), &ack(1));
    assert_eq!(blocks(&drain(&mut transfer)), [2]);
    let abort = error_packet(ErrorCode::NotDefined, "probe done");
    transfer.handle_datagram(t0 + millis(2), &abort);
    assert!(drain(&mut transfer).is_empty());
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::ClientAborted {
            code: ErrorCode::NotDefined,
            message: "probe done".to_owned(),
            acked_blocks: 1,
        })
    );
    assert_eq!(transfer.poll_timeout(), None);
    transfer.handle_timeout(t0 + secs(60));
    assert!(drain(&mut transfer).is_empty());
}

#[test]
fn client_error_in_reply_to_oack_aborts() {
    // U-Boot refuses an OACK it does not like with ERROR 8.
    let t0 = Instant::now();
    let asked = options(&[("timeout", "5"), ("blksize", "1468")]);
    let mut transfer = Transfer::new(&asked, 5000, &config(1024, 64), t0);
    drain(&mut transfer);
    let refusal = error_packet(ErrorCode::OptionRejected, "");
    transfer.handle_datagram(t0 + millis(1), &refusal);
    assert!(drain(&mut transfer).is_empty());
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::ClientAborted {
            code: ErrorCode::OptionRejected,
            message: String::new(),
            acked_blocks: 0,
        })
    );
}

#[test]
fn lost_oack_is_resent_on_timeout() {
    let t0 = Instant::now();
    let asked = options(&[("tsize", "0")]);
    let mut transfer = Transfer::new(&asked, 700, &TransferConfig::default(), t0);
    let first = drain(&mut transfer);
    assert_eq!(oack_options(&first), options(&[("tsize", "700")]));
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(1)));

    transfer.handle_timeout(t0 + secs(1));
    assert_eq!(drain(&mut transfer), first);
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(3)));

    // An ACK other than 0 does not accept the OACK.
    transfer.handle_datagram(t0 + secs(2), &ack(1));
    assert!(drain(&mut transfer).is_empty());

    transfer.handle_datagram(t0 + secs(2), &ack(0));
    assert_eq!(drain(&mut transfer), [data(1, 0, 512)]);
    assert_eq!(transfer.poll_timeout(), Some(t0 + secs(3)));
    transfer.handle_datagram(t0 + secs(2), &ack(1));
    assert_eq!(drain(&mut transfer), [data(2, 512, 188)]);
    transfer.handle_datagram(t0 + secs(2), &ack(2));
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::Completed {
            bytes: 700,
            retransmits: 1
        })
    );
}

#[test]
fn silent_client_after_oack_times_out() {
    let t0 = Instant::now();
    let mut transfer = Transfer::new(
        &options(&[("tsize", "0")]),
        700,
        &TransferConfig::default(),
        t0,
    );
    drain(&mut transfer);
    while let Some(deadline) = transfer.poll_timeout() {
        transfer.handle_timeout(deadline);
        drain(&mut transfer);
    }
    assert_eq!(
        transfer.outcome(),
        Some(&Outcome::TimedOut { acked_blocks: 0 })
    );
}

#[test]
fn decimal_parsing() {
    assert_eq!(parse_decimal("0"), Some(0));
    assert_eq!(parse_decimal("1468"), Some(1468));
    assert_eq!(parse_decimal("007"), Some(7));
    assert_eq!(parse_decimal("99999999999999999999999"), Some(u64::MAX));
    assert_eq!(parse_decimal(""), None);
    assert_eq!(parse_decimal(" 5"), None);
    assert_eq!(parse_decimal("+5"), None);
}
