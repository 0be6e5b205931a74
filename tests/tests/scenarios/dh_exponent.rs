//! The client's Diffie-Hellman private exponent is short: twice the group's security strength
//! (RFC 8270, NIST SP 800-56A; what OpenSSH does), the change `patches/russh` carries
//! (ARCHITECTURE.md). With stock russh 0.65.1, whose exponents are full length, this fails.
//!
//! Observed from outside and deterministically, without timing: a scripted SSH server offers
//! `diffie-hellman-group-exchange-sha256` with a group of our own whose p − 1 has known 16-bit
//! prime factors (product Q ≈ 2^320 for the 3072-bit group, 2^512 for the 4096-bit one), reads
//! the client's public value e = g^x mod p, and recovers x mod Q by Pohlig–Hellman. A short x
//! (< Q) is x itself; a full-length x drawn uniformly lands below 2^(exponent bits) with
//! probability 2^-64 or less. The primes were made once with Python (p = 2·Q·R + 1 for a random
//! R, Miller–Rabin, the least primitive root as g) and are checked here only by what the test
//! needs: that Q divides p − 1 and that g has full order modulo each factor.

use std::collections::HashMap;

use num_bigint::BigUint;
use sshdiag_cli::native::TcpConnector;
use sshdiag_core::algorithms::AlgorithmPrefs;
use sshdiag_core::{AuthPlan, Credential, ProbeOptions, Secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The small primes (the largest below 2^16) whose first 20 divide p − 1 of the 3072-bit group
/// and all 32 that of the 4096-bit one: enough for Q to exceed 2^(exponent bits + 64).
const FACTORS: [u32; 32] = [
    65521, 65519, 65497, 65479, 65449, 65447, 65437, 65423, 65419, 65413, 65407, 65393, 65381,
    65371, 65357, 65353, 65327, 65323, 65309, 65293, 65287, 65269, 65267, 65257, 65239, 65213,
    65203, 65183, 65179, 65173, 65171, 65167,
];

const P3072: &str = "\
    6af62b21d37e7fc6bab6f425117a1278f2ba16a92328d76427b700aa40bc3bcf3fd64c37edfa13e0fb3be55dfbf962bf\
    accf22119dab10f083ab7511da417d784a0073ad8180c7102160169f551ddcf42080c640f5e13ec74c6e92f8d5020287\
    4d32ff4a68bd35964af4dbb529de11500309a8930da91ac855767d240829a309dc4a4006566be90188953d846857d9ce\
    61b19ffb01703909a24bb119b5c549cf02ad5cbcdc122ce0631e93835c937c6a490558c517c9a5b5583f87853a3d1b7c\
    fda6d930b9b7e9fb83a9f95fbcc2ff1841342acd5390e00e63f957676e9368f934c29a36e7be67f6f3af841cfb22d0ca\
    84ad71da824494aeea5b1ee8b7f43a411961770974d8bf36d6aab44605f77b3b658ec337f6a1e8ea2cd6c56cb5f5fdb8\
    efd4867acabe723a1f90c6223cbcc889f9d9f242854c22566f1d0cffe310d4e375afd779ff4ecddbf59d1e61c9b5993d\
    715726b49004426391a8024496d2cc93d85dfa100425fd601a1d2f04d6d807c403dd70e79ffd3af6db1fc61b5fe05cb3";

const P4096: &str = "\
    28c0baa19b99a76daa0d504cb6b024736a6494b9cc726826a946d13a963b774cd49ef4f46000d89f15b464df740f6785\
    8f986963baf60f42f0aa5f5c9a8f99b5298ca5471f661305429ff59bff4fcb1858532beef4b527c745701de9b07db1ad\
    4dbfaf6c19e53ed38c38c103b87a05658c990625cb8e6e5f92c3e96719801bde31b4ba78318b4365c5549d19501a196f\
    87c75e6262311b4d9cef59c067297b8ab0ad2cbbdd1ba562a00e6bf0403ebeb43485420d5f41229fe16b7867997052be\
    c262f4852a90f7d0bb224754c93a8d69ad5305dd9b7c83a75aa197d1b2792b78804942d3f5c7de8697f50ea347aaf734\
    b25d01ff403febdfed5a0c3b2cafba1384719c6d27d7afdd5425f31e80019eb8ea19016a973fe08ebb4132533f4f95ef\
    7a9f872dd6cdec5f390b3e0cb2ca355f82e10ee63ad77df9b0a68bc8168ab2f8b50263311a5e97f001672c400fae0ec6\
    457aa39b0203c6f969ae58afd03737e4b35fe3fe0fdd956beb6da851713e3f555395946a74919e288fcf9f0c35dd93e7\
    b49821ed50142d9d95a8f086976071b4c2c42badad1ebad7d26746744872b980cc2539b242ba0e1482c94478be68c83c\
    1f31d314c58ad3dd3ca8bec963d1afbebe952334ebfdb0870ae640c0b9688e1cd3a545427eeb6cf2ddf7a75496ab4554\
    48d5e566105f3a5d542039cc35855e46e501844d9651b13cc08d927a2c1771f";

#[tokio::test]
async fn gex_client_exponent_is_twice_the_security_strength() {
    // (prime, generator, how many FACTORS divide p − 1, the group's size as russh counts it,
    // twice the security strength OpenSSH assigns to that size).
    let groups = [(P3072, 2u32, 20, 3072, 256), (P4096, 7, 32, 4096, 384)];
    for (hex, generator, factors, group_bits, exponent_bits) in groups {
        let group = Group {
            p: BigUint::parse_bytes(hex.as_bytes(), 16).unwrap(),
            g: BigUint::from(generator),
            factors: &FACTORS[..factors],
        };
        assert_eq!(group.p.to_bytes_be().len() * 8, group_bits);
        let e = client_public_value(&group).await;
        let x = exponent_mod_q(&group, &e);
        assert!(
            x.bits() <= exponent_bits,
            "{group_bits}-bit group: the client's exponent has {} bits or more, not at most {exponent_bits}",
            x.bits()
        );
        // Not degenerate either: a uniform draw below 2^n is below 2^(n−64) with probability 2^-64.
        assert!(
            x.bits() > exponent_bits - 64,
            "{group_bits}-bit group: {} bits",
            x.bits()
        );
    }
}

/// A group whose p − 1 the product of `factors` divides, `g` of full order modulo each.
struct Group {
    p: BigUint,
    g: BigUint,
    factors: &'static [u32],
}

/// A group of the right size that no Diffie-Hellman exchange can use: an even modulus (no
/// Montgomery form; num-bigint, which the DH patch replaced, would have computed on it), a
/// generator of 1, and p − 1 (order 2). The client must refuse each before sending its public
/// value — e would be 0 or ±1, which gives a passive observer the shared secret — and the run
/// must end in a key-exchange failure, not a panic or a hang.
#[tokio::test]
async fn gex_client_refuses_a_degenerate_group() {
    let p = BigUint::parse_bytes(P3072.as_bytes(), 16).unwrap();
    let cases = [
        ("an even modulus", &p + 1u32, BigUint::from(2u32)),
        ("generator 1", p.clone(), BigUint::from(1u32)),
        ("generator p - 1", p.clone(), &p - 1u32),
    ];
    for (what, p, g) in cases {
        let group = Group { p, g, factors: &[] };
        let (report, e) = exchange(&group).await;
        assert_eq!(e, None, "{what}: the client sent its public value");
        assert_eq!(
            report.verdict.error_type,
            Some(sshdiag_events::ErrorType::KexFailed),
            "{what}: {:#?}",
            report.verdict
        );
    }
}

/// Runs the probe (group exchange forced) against a scripted server that answers with
/// `group` and returns the client's public value e from its KEX_DH_GEX_INIT.
async fn client_public_value(group: &Group) -> BigUint {
    exchange(group)
        .await
        .1
        .expect("the client sent KEX_DH_GEX_INIT")
}

/// The run against the scripted server, and the client's public value if it sent one (None
/// when the connection ended, or another message came, instead of KEX_DH_GEX_INIT).
async fn exchange(group: &Group) -> (sshdiag_core::ProbeReport, Option<BigUint>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let auth = AuthPlan::Credentials(vec![Credential::Password(Secret::new("unused"))]);
    let mut options = ProbeOptions::new("127.0.0.1", port, "diag", auth);
    options.connect_timeout_ms = 5_000;
    options.timeout_ms = Some(30_000);
    options.algorithms = AlgorithmPrefs {
        kex: Some("diffie-hellman-group-exchange-sha256".into()),
        ..Default::default()
    };
    let probe = async {
        let mut connector = TcpConnector;
        crate::probe_untrusted(options, &mut connector).await
    };
    let server = async {
        let (mut stream, _) = listener.accept().await.unwrap();
        scripted_gex(&mut stream, group).await
        // Dropping the stream ends the probe (with a transport error nobody checks).
    };
    tokio::join!(probe, server)
}

/// The server's side up to KEX_DH_GEX_INIT: banner, KEXINIT (the client's own lists back, but
/// group exchange for the kex), KEX_DH_GEX_GROUP with `group`.
async fn scripted_gex(stream: &mut TcpStream, group: &Group) -> Option<BigUint> {
    stream
        .write_all(b"SSH-2.0-sshdiag-test-scripted\r\n")
        .await
        .unwrap();
    while stream.read_u8().await.unwrap() != b'\n' {}
    let client_kexinit = read_packet(stream).await;
    assert_eq!(client_kexinit[0], 20, "KEXINIT");
    let mut lists = &client_kexinit[17..];
    let mut kexinit = vec![20u8];
    kexinit.extend([0x5a; 16]);
    put_string(&mut kexinit, b"diffie-hellman-group-exchange-sha256");
    take_string(&mut lists);
    for _ in 1..10 {
        put_string(&mut kexinit, take_string(&mut lists));
    }
    kexinit.push(0);
    kexinit.extend(0u32.to_be_bytes());
    write_packet(stream, &kexinit).await;

    let request = read_packet(stream).await;
    assert_eq!(request[0], 34, "KEX_DH_GEX_REQUEST");
    let mut reply = vec![31u8];
    put_mpint(&mut reply, &group.p);
    put_mpint(&mut reply, &group.g);
    write_packet(stream, &reply).await;

    let init = try_read_packet(stream).await?;
    if init.first() != Some(&32) {
        return None; // DISCONNECT or anything else: not KEX_DH_GEX_INIT.
    }
    let mut rest = &init[1..];
    Some(BigUint::from_bytes_be(take_string(&mut rest)))
}

/// x mod Q from e = g^x mod p (Pohlig–Hellman over the factors of Q, then the CRT).
fn exponent_mod_q(group: &Group, e: &BigUint) -> BigUint {
    let p = &group.p;
    let q: BigUint = group.factors.iter().map(|&f| BigUint::from(f)).product();
    let p_minus_one = p - 1u32;
    assert_eq!(&p_minus_one % &q, BigUint::ZERO, "Q divides p - 1");
    let cofactor = &p_minus_one / &q;
    let g = group.g.modpow(&cofactor, p);
    let h = e.modpow(&cofactor, p);
    let mut x = BigUint::ZERO;
    for &f in group.factors {
        let rest = &q / f;
        let g_f = g.modpow(&rest, p);
        assert_ne!(g_f, BigUint::from(1u32), "g has full order modulo {f}");
        let k = small_log(&g_f, &h.modpow(&rest, p), f, p);
        // rest · (rest⁻¹ mod f) · k ≡ k (mod f) and ≡ 0 modulo every other factor.
        let rest_mod_f = u64::try_from(&rest % f).unwrap();
        let inverse = BigUint::from(rest_mod_f).modpow(&BigUint::from(f - 2), &BigUint::from(f));
        x += &rest * ((inverse * k) % f);
    }
    x % q
}

/// The k < `order` with g^k = h mod p (baby-step giant-step).
fn small_log(g: &BigUint, h: &BigUint, order: u32, p: &BigUint) -> u32 {
    let m = (order as f64).sqrt().ceil() as u32;
    let mut baby = HashMap::new();
    let mut power = BigUint::from(1u32);
    for j in 0..m {
        baby.entry(power.clone()).or_insert(j);
        power = power * g % p;
    }
    let giant = g.modpow(&BigUint::from(order - m), p);
    let mut gamma = h.clone();
    for i in 0..m {
        if let Some(j) = baby.get(&gamma) {
            return i * m + j;
        }
        gamma = gamma * &giant % p;
    }
    panic!("no discrete log modulo a factor: the group constants are wrong");
}

async fn read_packet(stream: &mut TcpStream) -> Vec<u8> {
    try_read_packet(stream)
        .await
        .expect("the client closed the connection")
}

/// The next unencrypted packet's payload; None when the connection ends first.
async fn try_read_packet(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let len = stream.read_u32().await.ok()? as usize;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.ok()?;
    let padding = body[0] as usize;
    Some(body[1..len - padding].to_vec())
}

/// Writes `payload` as an unencrypted binary packet.
async fn write_packet(stream: &mut TcpStream, payload: &[u8]) {
    stream
        .write_all(&sshdiag_core::wire::binary_packet(payload))
        .await
        .unwrap();
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend((bytes.len() as u32).to_be_bytes());
    out.extend(bytes);
}

fn put_mpint(out: &mut Vec<u8>, n: &BigUint) {
    let mut bytes = n.to_bytes_be();
    if bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    put_string(out, &bytes);
}

fn take_string<'a>(input: &mut &'a [u8]) -> &'a [u8] {
    let len = u32::from_be_bytes(input[..4].try_into().unwrap()) as usize;
    let (string, rest) = input[4..].split_at(len);
    *input = rest;
    string
}
