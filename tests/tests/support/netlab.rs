//! A small network lab out of Linux network namespaces: a "member" namespace behind a "router"
//! namespace that masquerades it onto a veth link to the root namespace (where the hub runs).
//!
//! ```text
//!  root ns                 router ns                          member ns
//!  hub_ip/30 ──veth── uplink_ip/30   lan_ip/30 ──veth── member_ip/30 (default via lan_ip)
//!                      MASQUERADE out of uplink; FORWARD: established + lan→uplink only
//! ```
//!
//! The root namespace also gets a route to the member's subnet through the router, so a dial-in
//! is stopped by the router's rules and not merely by a missing route. Names carry the test
//! process id and a counter; everything is removed on drop (also when a test panics).

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The namespaces and addresses of one lab.
#[derive(Debug)]
pub struct NetLab {
    /// The router namespace.
    pub router: String,
    /// The member namespace (agent and member cluster run here).
    pub member: String,
    /// The root-namespace end of the uplink (the hub listens here).
    pub hub_ip: String,
    /// The router's uplink address (what the hub sees after masquerading).
    pub uplink_ip: String,
    /// The router's address on the member link.
    pub lan_ip: String,
    /// The member's address.
    pub member_ip: String,
    root_link: String,
    member_net: String,
}

/// Run a command; its stderr in the error when it fails.
pub fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Give `dev` (in namespace `ns`, or the root namespace) the address `ip`/30 and bring it up.
fn addr_up(ns: Option<&str>, ip: &str, dev: &str) -> Result<(), String> {
    let mut ip_cmd = vec!["ip"];
    if let Some(ns) = ns {
        ip_cmd.extend(["-n", ns]);
    }
    let cidr = format!("{ip}/30");
    let mut add = ip_cmd.clone();
    add.extend(["addr", "add", cidr.as_str(), "dev", dev]);
    sh(&add)?;
    let mut up = ip_cmd;
    up.extend(["link", "set", dev, "up"]);
    sh(&up)
}

/// Remove namespaces left by earlier runs whose process is gone (a test killed hard).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(rest) = name.strip_prefix("ce2e") else {
            continue;
        };
        let pid: String = rest
            .chars()
            .skip(1)
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = sh(&["ip", "netns", "del", name]);
        }
    }
}

impl NetLab {
    /// Build the lab, or None when namespaces cannot be created here at all (the reason is
    /// printed as `SKIPPED: ...`). Any later failure panics.
    pub fn nat(test: &str) -> Option<NetLab> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        remove_stale();
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // A /29-sized block per lab out of 10.200.0.0/13, from the pid and the counter.
        let slot = (pid.wrapping_mul(8).wrapping_add(n)) % (8 * 256 * 32);
        let (b, c, d) = (200 + slot / (256 * 32), (slot / 32) % 256, (slot % 32) * 8);
        let ip = |k: u32| format!("10.{b}.{c}.{}", d + k);
        let router = format!("ce2e-{pid}-{n}r");
        if let Err(e) = sh(&["ip", "netns", "add", &router]) {
            println!("SKIPPED: {test}: cannot create network namespaces here ({e})");
            return None;
        }
        let lab = NetLab {
            member: format!("ce2e-{pid}-{n}m"),
            root_link: format!("ce2e{pid}x{n}"),
            hub_ip: ip(1),
            uplink_ip: ip(2),
            lan_ip: ip(5),
            member_ip: ip(6),
            member_net: format!("{}/30", ip(4)),
            router,
        };
        lab.build()
            .unwrap_or_else(|e| panic!("building the network lab: {e}"));
        Some(lab)
    }

    fn build(&self) -> Result<(), String> {
        let (r, m) = (self.router.as_str(), self.member.as_str());
        sh(&["ip", "netns", "add", m])?;
        // root <-> router
        sh(&[
            "ip",
            "link",
            "add",
            &self.root_link,
            "type",
            "veth",
            "peer",
            "name",
            "uplink",
            "netns",
            r,
        ])?;
        addr_up(None, &self.hub_ip, &self.root_link)?;
        addr_up(Some(r), &self.uplink_ip, "uplink")?;
        sh(&["ip", "-n", r, "link", "set", "lo", "up"])?;
        // router <-> member
        sh(&[
            "ip", "-n", r, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", m,
        ])?;
        addr_up(Some(r), &self.lan_ip, "lan")?;
        addr_up(Some(m), &self.member_ip, "eth0")?;
        sh(&["ip", "-n", m, "link", "set", "lo", "up"])?;
        sh(&[
            "ip",
            "-n",
            m,
            "route",
            "add",
            "default",
            "via",
            &self.lan_ip,
        ])?;
        sh(&[
            "ip",
            "-n",
            r,
            "route",
            "add",
            "default",
            "via",
            &self.hub_ip,
        ])?;
        // The router: forward and masquerade outbound, refuse anything new from the uplink.
        self.router_exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        self.router_exec(&[
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "uplink",
            "-j",
            "MASQUERADE",
        ])?;
        self.router_exec(&["iptables", "-P", "FORWARD", "DROP"])?;
        self.router_exec(&[
            "iptables",
            "-A",
            "FORWARD",
            "-m",
            "conntrack",
            "--ctstate",
            "ESTABLISHED,RELATED",
            "-j",
            "ACCEPT",
        ])?;
        self.router_exec(&[
            "iptables", "-A", "FORWARD", "-i", "lan", "-o", "uplink", "-j", "ACCEPT",
        ])?;
        self.router_exec(&[
            "iptables",
            "-A",
            "INPUT",
            "-i",
            "uplink",
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-j",
            "DROP",
        ])?;
        // A route from the root namespace to the member, so only the router's rules stop a
        // dial-in.
        sh(&[
            "ip",
            "route",
            "add",
            &self.member_net,
            "via",
            &self.uplink_ip,
        ])?;
        Ok(())
    }

    fn router_exec(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["ip", "netns", "exec", self.router.as_str()];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// Run a command inside the member namespace.
    pub fn member_exec(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["ip", "netns", "exec", self.member.as_str()];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// Run a command inside the member namespace; its stdout.
    pub fn member_output(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ip")
            .args(["netns", "exec", self.member.as_str()])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Drop every UDP datagram the member sends (QUIC blocked; TCP still works).
    pub fn block_member_udp(&self) {
        self.member_exec(&["iptables", "-A", "OUTPUT", "-p", "udp", "-j", "DROP"])
            .unwrap();
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        // Deleting the namespaces removes their veth ends, the root end with its peer, and the
        // root route with its interface.
        let _ = sh(&["ip", "route", "del", &self.member_net]);
        let _ = sh(&["ip", "netns", "del", &self.member]);
        let _ = sh(&["ip", "netns", "del", &self.router]);
        let _ = sh(&["ip", "link", "del", &self.root_link]);
    }
}
