//! The child processes the benchmark measures: a guard that kills a child, its /proc
//! figures, and the simulator child with its page timing.

use super::*;

/// A child process that is killed when the guard drops (and, through PR_SET_PDEATHSIG, when
/// the benchmark's thread goes away).
pub(super) struct Guarded {
    pub(super) what: &'static str,
    pub(super) child: Child,
    pub(super) pid: u32,
    pub(super) lines: Lines<BufReader<ChildStdout>>,
    /// The child's standard input: a line on it tells a per-station child that its figures
    /// have been read and it may finish (exiting earlier would leave nothing in /proc).
    pub(super) stdin: Option<ChildStdin>,
}

impl Guarded {
    pub(super) fn spawn(what: &'static str, mut command: Command) -> Result<Guarded, BenchError> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|source| BenchError::Spawn { what, source })?;
        let pid = child.id().ok_or(BenchError::Ended {
            what,
            expected: "its process id",
        })?;
        let stdout = child.stdout.take().ok_or(BenchError::Ended {
            what,
            expected: "its standard output",
        })?;
        let stdin = child.stdin.take();
        Ok(Guarded {
            what,
            child,
            pid,
            lines: BufReader::new(stdout).lines(),
            stdin,
        })
    }

    /// The next line of output for which `pick` returns something, within `within`.
    pub(super) async fn wait_for<T>(
        &mut self,
        expected: &'static str,
        within: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, BenchError> {
        let what = self.what;
        let search = async {
            loop {
                match self.lines.next_line().await {
                    Ok(Some(line)) => {
                        if let Some(found) = pick(&line) {
                            return Ok(found);
                        }
                    }
                    Ok(None) => return Err(BenchError::Ended { what, expected }),
                    Err(source) => return Err(BenchError::Read { what, source }),
                }
            }
        };
        tokio::time::timeout(within, search)
            .await
            .map_err(|_| BenchError::NotReady {
                what,
                expected,
                after: within,
            })?
    }

    /// Resident set now and at its peak, MiB.
    pub(super) fn rss_mib(&self) -> Result<(f64, f64), BenchError> {
        let status = read_proc(self.pid, "status")?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
                .map(|kib| kib / 1024.0)
                .ok_or_else(|| BenchError::Proc {
                    pid: self.pid,
                    file: "status",
                    detail: format!("no {name} line"),
                })
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// User + system CPU time so far, ms (clock-tick resolution, usually 10 ms).
    pub(super) fn cpu_ms(&self) -> Result<f64, BenchError> {
        let stat = read_proc(self.pid, "stat")?;
        let bad = |detail: &str| BenchError::Proc {
            pid: self.pid,
            file: "stat",
            detail: detail.into(),
        };
        // Fields after the command name, which may itself contain spaces: ") state ppid ...",
        // utime and stime are fields 14 and 15 of the line, 12th and 13th after the ')'.
        let rest = stat.rsplit_once(')').ok_or_else(|| bad("no ')'"))?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| bad("short line"))
        };
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Ok((ticks(11)? + ticks(12)?) * 1000.0 / hz)
    }

    /// Sends `line` to the child's standard input.
    pub(super) async fn tell(&mut self, line: &str) -> Result<(), BenchError> {
        let what = self.what;
        let stdin = self.stdin.as_mut().ok_or(BenchError::Ended {
            what,
            expected: "its standard input",
        })?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|source| BenchError::Read { what, source })
    }

    pub(super) async fn stop(mut self) {
        // Already gone is fine: the guard's job is only that it does not outlive us.
        let _ = self.child.kill().await;
    }
}

pub(super) fn read_proc(pid: u32, file: &'static str) -> Result<String, BenchError> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|e| BenchError::Proc {
        pid,
        file,
        detail: e.to_string(),
    })
}

/// The simulator child and where it listens.
pub(super) struct Sim {
    pub(super) child: Guarded,
    pub(super) endpoint: String,
    pub(super) admin: String,
    pub(super) stations: usize,
    pub(super) accounts: usize,
}

/// The bare simulator's answer to one 500-station page.
pub(super) struct PageFigures {
    pub(super) p50_ms: f64,
    pub(super) max_ms: f64,
    pub(super) cpu_ms_per_page: f64,
    pub(super) rss_mib: f64,
    pub(super) hwm_mib: f64,
}

impl Sim {
    pub(super) async fn start(args: &Args, stations: usize) -> Result<Sim, BenchError> {
        let mut command = Command::new(supervisor_bin(args));
        command
            .arg("sim")
            .args(["--stations", &stations.to_string()])
            .args(["--accounts", &args.accounts.to_string()])
            .args(["--ports", &args.ports.to_string()])
            .stderr(Stdio::null());
        let mut child = Guarded::spawn("the simulator", command)?;
        let value = |line: &str, key: &str| {
            line.trim()
                .strip_prefix(key)
                .map(|rest| rest.trim().to_string())
        };
        let endpoint = child
            .wait_for("its endpoint", READY_TIMEOUT, |l| value(l, "endpoint:"))
            .await?;
        let admin = child
            .wait_for("its admin URL", READY_TIMEOUT, |l| value(l, "admin:"))
            .await?;
        Ok(Sim {
            child,
            endpoint,
            admin,
            stations,
            accounts: args.accounts,
        })
    }

    /// Times `SIM_PAGES` getStationStatus requests naming 500 stations of account 1.
    pub(super) async fn time_page(&self) -> Result<PageFigures, BenchError> {
        let client = client(&self.endpoint, 1)?;
        let per_account = self.stations / self.accounts.max(1);
        let ids: Vec<StationId> = (1..=per_account.min(PAGE_STATIONS))
            .map(|n| station_id(1, n))
            .collect();
        let query = StatusQuery { station_ids: ids };
        // One unmeasured request: connection set-up and first-touch allocations.
        client
            .get_station_status(&query)
            .await
            .map_err(BenchError::Page)?;
        let cpu0 = self.child.cpu_ms()?;
        let mut ms = Vec::with_capacity(SIM_PAGES);
        for _ in 0..SIM_PAGES {
            let t = Instant::now();
            client
                .get_station_status(&query)
                .await
                .map_err(BenchError::Page)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let cpu = self.child.cpu_ms()? - cpu0;
        let (rss_mib, hwm_mib) = self.child.rss_mib()?;
        Ok(PageFigures {
            p50_ms: percentile(&mut ms, 50.0).unwrap_or(f64::NAN),
            max_ms: percentile(&mut ms, 100.0).unwrap_or(f64::NAN),
            cpu_ms_per_page: cpu / SIM_PAGES as f64,
            rss_mib,
            hwm_mib,
        })
    }

    pub(super) async fn add_fault(
        &self,
        http: &reqwest::Client,
        spec: &str,
    ) -> Result<(), BenchError> {
        let url = format!("{}/faults", self.admin);
        let body = serde_json::json!({ "spec": spec }).to_string();
        send(
            "POST",
            &url,
            http.post(&url)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
        .map(drop)
    }

    pub(super) async fn reset_calls(&self, http: &reqwest::Client) -> Result<(), BenchError> {
        let url = format!("{}/calls", self.admin);
        send("DELETE", &url, http.delete(&url)).await.map(drop)
    }

    /// Calls per method since the last reset.
    pub(super) async fn calls(
        &self,
        http: &reqwest::Client,
    ) -> Result<BTreeMap<String, f64>, BenchError> {
        #[derive(serde::Deserialize)]
        struct Calls {
            by_method: BTreeMap<String, f64>,
        }
        let url = format!("{}/calls", self.admin);
        let text = send("GET", &url, http.get(&url)).await?;
        let calls: Calls =
            serde_json::from_str(&text).map_err(|source| BenchError::Json { what: url, source })?;
        Ok(calls.by_method)
    }
}
