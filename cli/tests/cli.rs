//! CLI tests: argument errors, the output of `demo` and the JSON shape of `bench --quick --json`
//! / `compare --json --quick`.

use std::process::Command;

fn cowftl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cowftl"))
        .args(args)
        .output()
        .expect("run cowftl")
}

#[test]
fn argument_errors() {
    for bad in [
        &["frobnicate"][..],
        &["bench", "--no-such-flag"],
        &["demo", "--ops", "many"],
        &["demo", "--preset", "nope"],
        &["bench", "--size", "abc"],
        &["inspect"],
        &["inspect", "--unit-size", "abc", "x.bin"],
    ] {
        let o = cowftl(bad);
        assert!(!o.status.success(), "{bad:?} should fail");
        assert_eq!(o.status.code(), Some(2), "clap usage error for {bad:?}");
        assert!(!o.stderr.is_empty());
    }
    // Semantic errors: exit code 1 with a message.
    for bad in [
        &["demo", "--size", "3000"][..],
        &["demo", "--ops", "0"],
        &["bench", "--quick", "--passes", "0"],
        &["compare", "--updates", "0"],
        &["inspect", "/nonexistent/cowftl.bin"],
    ] {
        let o = cowftl(bad);
        assert_eq!(o.status.code(), Some(1), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).starts_with("error:"),
            "{bad:?}"
        );
    }
    assert!(cowftl(&["--help"]).status.success());
}

#[test]
fn demo_small_chip() {
    let o = cowftl(&["demo", "--size", "64K", "--ops", "1500"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("write amplification"));
    assert!(out.contains("hold exactly their last acknowledged contents"));
    assert!(out.contains("the snapshot reads the old configuration, the volume the new"));
    assert!(out.contains("cut half-way") && out.contains("the snapshot is still there"));
    assert!(out.contains("read the old configuration; snapshot deleted"));
}

#[test]
fn bench_json_shape() {
    let o = cowftl(&[
        "bench", "--quick", "--json", "--size", "128K", "--passes", "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["quick"], true);
    let g = &v["geometry"];
    for k in [
        "unit_count",
        "slots_per_unit",
        "block_count",
        "block_size",
        "ram_bytes",
    ] {
        assert!(g[k].as_u64().unwrap() > 0, "geometry.{k}");
    }
    let ts = v["transactions"].as_array().expect("transactions");
    assert!(!ts.is_empty());
    for t in ts {
        assert!(t["txn_bytes"].as_u64().unwrap() > 0);
        assert_eq!(
            t["txn_bytes"], t["single_bytes"],
            "a transaction costs extra bytes"
        );
    }
    let s = &v["snapshots"];
    for op in ["snapshot", "rollback", "delete"] {
        let b = s[op]["bytes_programmed"].as_u64().expect(op);
        // One table record each, whatever the volume holds: far less than the writes.
        assert!(
            b > 0 && b < s["writes_since_bytes"].as_u64().unwrap() / 8,
            "{op}: {s}"
        );
        assert!(s[op]["erases"].is_u64(), "{op}.erases");
    }
    let held = s["uniform"].as_array().expect("snapshots.uniform");
    assert_eq!(held.len(), 2);
    assert_eq!(held[0]["snapshot_held"], false);
    assert_eq!(held[1]["snapshot_held"], true);
    for w in held {
        assert!(w["wa"].as_f64().unwrap() >= 1.0, "{w}");
    }
    let ws = v["workloads"].as_array().unwrap();
    let names: Vec<&str> = ws.iter().map(|w| w["name"].as_str().unwrap()).collect();
    for n in [
        "seq_fill",
        "uniform_50",
        "uniform_80",
        "uniform_90",
        "hotcold_90_10_at_80",
        "mixed_rw_50_at_80",
        "static_cold_50",
    ] {
        assert!(names.contains(&n), "missing workload {n}");
    }
    for w in ws {
        assert!(w["wa"].as_f64().unwrap() >= 1.0, "{w}");
        for k in [
            "fill_exported",
            "fill_raw",
            "erases_per_logical_mib",
            "device_ns_per_op",
            "host_ns_per_op",
        ] {
            assert!(w[k].is_number(), "{k}");
        }
        for k in ["min", "mean", "max", "spread"] {
            assert!(w["wear"][k].is_number(), "wear.{k}");
        }
        for k in ["bytes_read", "device_ns", "host_ns"] {
            assert!(w["mount"][k].is_u64(), "mount.{k}");
        }
    }
    let u80 = ws.iter().find(|w| w["name"] == "uniform_80").unwrap();
    assert!(u80["greedy_sim_wa"].as_f64().unwrap() > 1.0);
    // At 80 % fill GC runs during writes: some write makes copies besides its own record,
    // and the sequential fill (an empty volume) never does.
    assert!(
        u80["max_map_changes_per_write"].as_u64().unwrap() > 1,
        "{u80}"
    );
    // Its slowest write ran GC: longer than the average write.
    let slowest = u80["max_device_ns_per_write"].as_u64().unwrap() as f64;
    assert!(slowest > u80["device_ns_per_op"].as_f64().unwrap(), "{u80}");
    let fill = ws.iter().find(|w| w["name"] == "seq_fill").unwrap();
    assert_eq!(fill["max_map_changes_per_write"], 1, "{fill}");
    assert!(u80["analytic_wa"].as_f64().unwrap() > 1.0);
    assert!(v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["pass"].is_boolean()));
}

/// `compare --json --quick`: per part and store, at least 4 measured fills and a capacity
/// (`max_fill`) in (0, 1] that is at least every completed fill.
#[test]
fn compare_json_shape() {
    let o = cowftl(&["compare", "--json", "--quick"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["region_bytes"], 256 * 1024);
    let parts = v["parts"].as_array().unwrap();
    let names: Vec<&str> = parts.iter().map(|p| p["part"].as_str().unwrap()).collect();
    assert_eq!(names, ["STM32L476", "W25Q128"]);
    for p in parts {
        let stores = p["stores"].as_array().unwrap();
        assert_eq!(stores[0]["name"], "cowftl");
        assert_eq!(stores.len(), if v["peers_built"] == true { 3 } else { 1 });
        for s in stores {
            let max = s["max_fill"].as_f64().expect("max_fill");
            assert!(max > 0.0 && max <= 1.0, "{}: max_fill {max}", s["name"]);
            assert!(!s["config"].as_str().unwrap().is_empty());
            let points = s["points"].as_array().unwrap();
            assert!(points.len() >= 4, "{}: {} fills", s["name"], points.len());
            for pt in points {
                let fill = pt["fill"].as_f64().unwrap();
                assert!(fill > 0.0 && fill <= max + 1e-9);
                assert!(pt["wa"].as_f64().unwrap() >= 1.0);
                assert!(pt["device_us_per_update"].as_f64().unwrap() > 0.0);
                assert!(pt["host_us_per_update"].as_f64().unwrap() > 0.0);
            }
        }
    }
}
