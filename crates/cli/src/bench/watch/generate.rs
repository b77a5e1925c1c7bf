//! A synthetic Okta System Log with known answers: `pushback bench watch generate`.
//!
//! The log is a day of `LogEvent`s (about 1.4 KB each, with the actor, client, user
//! agent, geography, authentication and security context, debug data, transaction and
//! targets Okta writes) for a population of users: mostly event types watch does not
//! care about and successes (SSO, sessions, approved pushes), some push sends, wrong
//! codes, and now and then one stray push denial. Into it are injected:
//!
//! - **floods**: 5 to 9 denied pushes for one user, 15 to 90 s apart (so the first five
//!   fall within six minutes), each after its push was sent from the attacker's
//!   address; classic `user.mfa.okta_verify.deny_push`, OIE
//!   `user.authentication.auth_via_mfa` FAILURE with `OKTA_VERIFY_PUSH` and
//!   `INVALID_CREDENTIALS`, or both mixed. About a third end with the user approving.
//! - **near misses**: four denials within ten minutes, or five spread over more than
//!   eleven minutes.
//!
//! Stray denials never come closer than 15 minutes to the same user's last one and
//! never go to an injected user, so the floods are the only floods. Everything is drawn
//! from a seeded generator and a fixed start time: the same arguments write the same
//! bytes. Records are written in time order.

use std::io::{self, Write};

use serde::Serialize;

/// 2026-11-02T00:00:00Z.
const START_MS: i64 = 1_793_577_600_000;
/// The log covers one day.
const SPAN_MS: i64 = 24 * 3600 * 1000;
/// One flood and one near miss per this many events (at least two of each).
const EVENTS_PER_INJECTION: u64 = 20_000;
/// Stray denials come no closer than this to the same user's previous one.
const STRAY_GAP_MS: i64 = 15 * 60 * 1000;

/// A deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.below(u64::try_from(hi - lo + 1).unwrap_or(1))).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the generator injected: the answers a run is checked against.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Truth {
    pub events: u64,
    pub users: u64,
    pub seed: u64,
    pub floods: Vec<Flood>,
    pub near_misses: Vec<NearMiss>,
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Flood {
    pub user: String,
    /// Times (ms since the epoch) of the first and the fifth denial: the window
    /// `push_flood` should report.
    pub first_denial_ms: i64,
    pub fifth_denial_ms: i64,
    pub first_denial: String,
    pub denials: u32,
    /// `classic`, `oie` or `mixed`.
    pub style: String,
    pub then_approved: bool,
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct NearMiss {
    pub user: String,
    /// `four_in_ten_minutes` or `five_over_eleven_minutes`.
    pub shape: String,
    pub first_denial_ms: i64,
    pub last_denial_ms: i64,
    pub first_denial: String,
    pub denials: u32,
}

struct User {
    login: String,
    id: String,
    name: String,
    ip: String,
    place: &'static Place,
    agent: &'static Agent,
    last_stray_denial: i64,
    injected: bool,
}

struct Place {
    city: &'static str,
    state: &'static str,
    country: &'static str,
    postal: &'static str,
}

const PLACES: &[Place] = &[
    Place {
        city: "Lisbon",
        state: "Lisbon",
        country: "Portugal",
        postal: "1000-001",
    },
    Place {
        city: "Berlin",
        state: "Land Berlin",
        country: "Germany",
        postal: "10115",
    },
    Place {
        city: "Chicago",
        state: "Illinois",
        country: "United States",
        postal: "60601",
    },
    Place {
        city: "Austin",
        state: "Texas",
        country: "United States",
        postal: "73301",
    },
    Place {
        city: "Leeds",
        state: "England",
        country: "United Kingdom",
        postal: "LS1",
    },
    Place {
        city: "Lyon",
        state: "Auvergne-Rhone-Alpes",
        country: "France",
        postal: "69001",
    },
];

/// Where floods come from.
const ATTACKER_PLACES: &[Place] = &[
    Place {
        city: "Amsterdam",
        state: "North Holland",
        country: "Netherlands",
        postal: "1012",
    },
    Place {
        city: "Bucharest",
        state: "Bucuresti",
        country: "Romania",
        postal: "010011",
    },
];

struct Agent {
    raw: &'static str,
    os: &'static str,
    browser: &'static str,
}

const AGENTS: &[Agent] = &[
    Agent {
        raw: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        os: "Windows 10",
        browser: "CHROME",
    },
    Agent {
        raw: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
        os: "Mac OS X",
        browser: "SAFARI",
    },
    Agent {
        raw: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        os: "Linux",
        browser: "FIREFOX",
    },
    Agent {
        raw: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        os: "Windows 10",
        browser: "EDGE_CHROMIUM",
    },
];

const APPS: &[(&str, &str)] = &[
    ("Salesforce", "0oa1sfdc4xq7Rz2Kd5d7"),
    ("Workday", "0oa1wday9tqP3mLx0d7"),
    ("Slack", "0oa1slck2bWe8NaYq5d7"),
    ("GitHub Enterprise", "0oa1ghub5cVr7MbTz2d7"),
    ("Zoom", "0oa1zoom8dXs6LcUy1d7"),
];

/// Event types watch skips, with their display message and legacy type (as JSON).
const IRRELEVANT: &[(&str, &str, &str)] = &[
    (
        "policy.evaluate_sign_on",
        "Evaluation of sign-on policy",
        "null",
    ),
    (
        "app.oauth2.as.token.grant.access_token",
        "OAuth2 access token is granted",
        "null",
    ),
    (
        "app.oauth2.as.authorize.code",
        "OAuth2 authorization code request",
        "null",
    ),
    (
        "user.authentication.authenticate",
        "Authenticate user via IDP",
        "null",
    ),
    (
        "user.account.update_profile",
        "Update user profile for Okta",
        "\"core.user.config.profile_update.success\"",
    ),
    (
        "group.user_membership.add",
        "Add user to group membership",
        "\"core.user_group_member.user_add\"",
    ),
    (
        "application.user_membership.add",
        "Add user to application membership",
        "\"app.generic.provision.assign_user_to_app\"",
    ),
    (
        "system.org.rate_limit.warning",
        "Rate limit warning",
        "\"core.framework.ratelimit.warning\"",
    ),
];

/// One event's shape.
#[derive(Clone, Copy)]
enum Shape {
    Irrelevant(usize),
    Sso,
    SessionStart,
    PushSent,
    PushApproved,
    WrongCode,
    DenyClassic,
    DenyOie,
}

/// Who and where an event is about.
struct Who<'a> {
    user: &'a User,
    ip: &'a str,
    place: &'a Place,
    session: &'a str,
}

/// An event waiting to be written at its time.
struct Injected {
    time: i64,
    user: usize,
    shape: Shape,
    attacker: Option<(String, &'static Place)>,
    session: String,
}

impl Injected {
    /// Who the event is about, and from where: the attacker's address and place when
    /// there is one, else the user's own.
    fn who<'a>(&'a self, users: &'a [User]) -> Who<'a> {
        let user = &users[self.user];
        let (ip, place) = match &self.attacker {
            Some((ip, place)) => (ip.as_str(), *place),
            None => (user.ip.as_str(), user.place),
        };
        Who {
            user,
            ip,
            place,
            session: &self.session,
        }
    }
}

/// The settings of one generated log.
pub struct Spec {
    pub events: u64,
    pub users: u64,
    pub seed: u64,
}

/// Writes `spec.events` records (one JSON object per line unless `array`), returning
/// the truth.
pub fn write(spec: &Spec, out: &mut impl Write, array: bool) -> io::Result<Truth> {
    let injections = (spec.events / EVENTS_PER_INJECTION).max(2);
    if spec.users < 4 * injections {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} events inject {injections} floods and as many near misses, each for a user of its own: use at least {} users",
                spec.events,
                4 * injections
            ),
        ));
    }
    let mut rng = Rng::new(spec.seed);
    let mut users: Vec<User> = (0..spec.users)
        .map(|i| User {
            login: format!("user{i:05}@acme.example"),
            id: format!("00u{:017x}", rng.next_u64() >> 4),
            name: format!("User {i:05}"),
            ip: format!("198.{}.{}.{}", 18 + i % 2, (i / 250) % 250, 1 + i % 250),
            place: rng.pick(PLACES),
            agent: rng.pick(AGENTS),
            last_stray_denial: i64::MIN / 2,
            injected: false,
        })
        .collect();
    let (mut injected, truth_floods, truth_near) = inject(spec, &mut rng, &mut users);
    injected.sort_by_key(|e| e.time);
    let background = spec.events.saturating_sub(injected.len() as u64);
    let gap = SPAN_MS / i64::try_from(background.max(1)).unwrap_or(1);

    let mut line = Vec::with_capacity(2048);
    let mut written = 0u64;
    let mut t = START_MS;
    let mut next_injected = injected.into_iter().peekable();
    if array {
        out.write_all(b"[\n")?;
    }
    let mut emit = |line: &[u8], out: &mut dyn Write| -> io::Result<()> {
        if array && written > 0 {
            out.write_all(b",\n")?;
        }
        out.write_all(line)?;
        if !array {
            out.write_all(b"\n")?;
        }
        written += 1;
        Ok(())
    };
    for _ in 0..background {
        t += rng.between(0, 2 * gap);
        while let Some(e) = next_injected.next_if(|e| e.time <= t) {
            line.clear();
            record(&mut line, &mut rng, e.time, e.shape, &e.who(&users))?;
            emit(&line, out)?;
        }
        let ui = usize::try_from(rng.below(users.len() as u64)).unwrap_or(0);
        let mut shape = background_shape(&mut rng);
        if matches!(shape, Shape::DenyClassic) {
            let u = &mut users[ui];
            if u.injected || t - u.last_stray_denial < STRAY_GAP_MS {
                shape = Shape::PushApproved;
            } else {
                u.last_stray_denial = t;
            }
        }
        let u = &users[ui];
        let session = format!("102{:020x}", rng.next_u64());
        let who = Who {
            user: u,
            ip: &u.ip,
            place: u.place,
            session: &session,
        };
        line.clear();
        record(&mut line, &mut rng, t, shape, &who)?;
        emit(&line, out)?;
    }
    // Injections after the last background event (only in tiny logs).
    for e in next_injected {
        line.clear();
        record(&mut line, &mut rng, e.time, e.shape, &e.who(&users))?;
        emit(&line, out)?;
    }
    if array {
        out.write_all(b"\n]\n")?;
    }
    out.flush()?;
    Ok(Truth {
        events: written,
        users: users.len() as u64,
        seed: spec.seed,
        floods: truth_floods,
        near_misses: truth_near,
    })
}

fn background_shape(rng: &mut Rng) -> Shape {
    match rng.below(1000) {
        0..=539 => {
            Shape::Irrelevant(usize::try_from(rng.below(IRRELEVANT.len() as u64)).unwrap_or(0))
        }
        540..=749 => Shape::Sso,
        750..=829 => Shape::SessionStart,
        830..=914 => Shape::PushApproved,
        915..=979 => Shape::PushSent,
        980..=996 => Shape::WrongCode,
        _ => Shape::DenyClassic,
    }
}

/// Plans the floods and near misses; returns their events and the truth.
fn inject(
    spec: &Spec,
    rng: &mut Rng,
    users: &mut [User],
) -> (Vec<Injected>, Vec<Flood>, Vec<NearMiss>) {
    let count = (spec.events / EVENTS_PER_INJECTION).max(2);
    let mut events = Vec::new();
    let mut floods = Vec::new();
    let mut near = Vec::new();
    let take_user = |rng: &mut Rng, users: &mut [User]| -> usize {
        loop {
            let i = usize::try_from(rng.below(users.len() as u64)).unwrap_or(0);
            if !users[i].injected {
                users[i].injected = true;
                return i;
            }
        }
    };
    let latest = SPAN_MS - 2 * 3600 * 1000;
    for n in 0..count {
        // Floods.
        let user = take_user(rng, users);
        let start = START_MS + rng.between(30 * 60 * 1000, latest);
        let denials = u32::try_from(rng.between(5, 9)).unwrap_or(5);
        let style = ["classic", "oie", "mixed"][usize::try_from(n % 3).unwrap_or(0)];
        let attacker = (
            format!("203.0.{}.{}", 113 + n / 250 % 4, 1 + n % 250),
            rng.pick(ATTACKER_PLACES),
        );
        let session = format!("idx{:020x}", rng.next_u64());
        let mut t = start;
        let mut times = Vec::new();
        for d in 0..denials {
            if d > 0 {
                t += rng.between(15_000, 90_000);
            }
            times.push(t);
            events.push(Injected {
                time: t - rng.between(2_000, 8_000),
                user,
                shape: Shape::PushSent,
                attacker: Some(attacker.clone()),
                session: session.clone(),
            });
            let oie = match style {
                "classic" => false,
                "oie" => true,
                _ => d % 2 == 1,
            };
            events.push(Injected {
                time: t,
                user,
                shape: if oie {
                    Shape::DenyOie
                } else {
                    Shape::DenyClassic
                },
                attacker: Some(attacker.clone()),
                session: session.clone(),
            });
        }
        let then_approved = rng.chance(33);
        if then_approved {
            let at = t + rng.between(20_000, 90_000);
            events.push(Injected {
                time: at - 3_000,
                user,
                shape: Shape::PushSent,
                attacker: Some(attacker.clone()),
                session: session.clone(),
            });
            events.push(Injected {
                time: at,
                user,
                shape: Shape::PushApproved,
                attacker: Some(attacker.clone()),
                session: session.clone(),
            });
        }
        floods.push(Flood {
            user: users[user].login.clone(),
            first_denial_ms: times[0],
            fifth_denial_ms: times[4],
            first_denial: rfc3339(times[0]),
            denials,
            style: style.to_owned(),
            then_approved,
        });

        // Near misses, alternating the two shapes.
        let user = take_user(rng, users);
        let start = START_MS + rng.between(30 * 60 * 1000, latest);
        let (shape, denials, lo, hi) = if n % 2 == 0 {
            ("four_in_ten_minutes", 4, 20_000, 170_000)
        } else {
            ("five_over_eleven_minutes", 5, 166_000, 200_000)
        };
        let session = format!("idx{:020x}", rng.next_u64());
        let mut t = start;
        let mut times = Vec::new();
        for d in 0..denials {
            if d > 0 {
                t += rng.between(lo, hi);
            }
            times.push(t);
            events.push(Injected {
                time: t - 4_000,
                user,
                shape: Shape::PushSent,
                attacker: None,
                session: session.clone(),
            });
            events.push(Injected {
                time: t,
                user,
                shape: if d % 2 == 0 {
                    Shape::DenyClassic
                } else {
                    Shape::DenyOie
                },
                attacker: None,
                session: session.clone(),
            });
        }
        near.push(NearMiss {
            user: users[user].login.clone(),
            shape: shape.to_owned(),
            first_denial_ms: times[0],
            last_denial_ms: t,
            first_denial: rfc3339(times[0]),
            denials,
        });
    }
    (events, floods, near)
}

/// One LogEvent as a single line of JSON.
fn record(out: &mut Vec<u8>, rng: &mut Rng, t: i64, shape: Shape, who: &Who<'_>) -> io::Result<()> {
    let (app, app_id) = *rng.pick(APPS);
    let (event_type, message, legacy, result, reason, factor, extra) = match shape {
        Shape::Irrelevant(i) => {
            let (ty, msg, legacy) = IRRELEVANT[i];
            (ty, msg, legacy, "SUCCESS", "null", "", "")
        }
        Shape::Sso => (
            "user.authentication.sso",
            "User single sign on to app",
            "\"app.auth.sso\"",
            "SUCCESS",
            "null",
            "",
            "",
        ),
        Shape::SessionStart => (
            "user.session.start",
            "User login to Okta",
            "\"core.user_auth.login_success\"",
            "SUCCESS",
            "null",
            "",
            "",
        ),
        Shape::PushSent => (
            "system.push.send_factor_verify_push",
            "A push was sent to the user for verification",
            "null",
            "SUCCESS",
            "null",
            "",
            "",
        ),
        Shape::PushApproved => (
            "user.authentication.auth_via_mfa",
            "Authentication of user via MFA",
            "\"core.user.factor.attempt_success\"",
            "SUCCESS",
            "null",
            "OKTA_VERIFY_PUSH",
            "",
        ),
        Shape::WrongCode => (
            "user.authentication.auth_via_mfa",
            "Authentication of user via MFA",
            "\"core.user.factor.attempt_fail\"",
            "FAILURE",
            "\"INVALID_CREDENTIALS\"",
            "SOFT_TOKEN",
            "",
        ),
        Shape::DenyClassic => (
            "user.mfa.okta_verify.deny_push",
            "User rejected Okta push verify",
            "\"core.user.factor.push_deny\"",
            "SUCCESS",
            "null",
            "",
            "",
        ),
        Shape::DenyOie => (
            "user.authentication.auth_via_mfa",
            "Authentication of user via MFA",
            "\"core.user.factor.attempt_fail\"",
            "FAILURE",
            "\"INVALID_CREDENTIALS\"",
            "OKTA_VERIFY_PUSH",
            ",\"pushOnlyResponseType\":\"OV_RESPONSE_DENY\"",
        ),
    };
    let factor_field = if factor.is_empty() {
        String::new()
    } else {
        format!(",\"factor\":\"{factor}\"")
    };
    let u = who.user;
    let p = who.place;
    let a = u.agent;
    let uuid = uuid(rng);
    let request_id = format!("{:016x}{:08x}", rng.next_u64(), rng.next_u64() as u32);
    let tx_id = request_id.clone();
    let dt_hash = format!(
        "{:016x}{:016x}{:016x}{:016x}",
        rng.next_u64(),
        rng.next_u64(),
        rng.next_u64(),
        rng.next_u64()
    );
    let risk = if who.ip == u.ip { "LOW" } else { "HIGH" };
    write!(
        out,
        concat!(
            r#"{{"actor":{{"id":"{uid}","type":"User","alternateId":"{login}","displayName":"{name}"}},"#,
            r#""client":{{"userAgent":{{"rawUserAgent":"{raw}","os":"{os}","browser":"{browser}"}},"zone":"null","device":"Computer","id":null,"ipAddress":"{ip}","geographicalContext":{{"city":"{city}","state":"{state}","country":"{country}","postalCode":"{postal}"}}}},"#,
            r#""device":null,"authenticationContext":{{"issuer":null,"interface":null,"authenticationStep":0,"externalSessionId":"{session}"}},"#,
            r#""displayMessage":"{message}","eventType":"{event_type}","outcome":{{"result":"{result}","reason":{reason}}},"published":"{published}","#,
            r#""securityContext":{{"asNumber":64500,"asOrg":"example telecom","isp":"example isp","domain":null,"isProxy":false}},"severity":"INFO","#,
            r#""debugContext":{{"debugData":{{"requestId":"{request_id}","dtHash":"{dt_hash}","threatSuspected":"false","risk":"{{level={risk}}}"{factor_field}{extra}}}}},"#,
            r#""legacyEventType":{legacy},"transaction":{{"type":"WEB","id":"{tx_id}","detail":{{}}}},"uuid":"{uuid}","version":"0","#,
            r#""request":{{"ipChain":[{{"ip":"{ip}","version":"V4","source":null}}]}},"#,
            r#""target":[{{"id":"{app_id}","type":"AppInstance","alternateId":"{app}","displayName":"{app}","detailEntry":null}}]}}"#,
        ),
        uid = u.id,
        login = u.login,
        name = u.name,
        raw = a.raw,
        os = a.os,
        browser = a.browser,
        ip = who.ip,
        city = p.city,
        state = p.state,
        country = p.country,
        postal = p.postal,
        session = who.session,
        message = message,
        event_type = event_type,
        result = result,
        reason = reason,
        published = rfc3339(t),
        request_id = request_id,
        dt_hash = dt_hash,
        risk = risk,
        factor_field = factor_field,
        extra = extra,
        legacy = legacy,
        tx_id = tx_id,
        uuid = uuid,
        app_id = app_id,
        app = app,
    )
}

fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-11f0-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        (b >> 48) & 0xffff,
        b & 0xffff_ffff_ffff
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the epoch (days to civil date:
/// Howard Hinnant's algorithm).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(START_MS), "2026-11-02T00:00:00.000Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn same_seed_same_bytes_in_time_order_with_the_asked_size() {
        let spec = Spec {
            events: 3000,
            users: 200,
            seed: 7,
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ta = write(&spec, &mut a, false).expect("writes");
        let tb = write(&spec, &mut b, false).expect("writes");
        assert_eq!(a, b);
        assert_eq!(ta, tb);
        assert_eq!(ta.events, 3000);
        assert_eq!(ta.floods.len(), 2);
        assert_eq!(ta.near_misses.len(), 2);
        let text = String::from_utf8(a).expect("utf-8");
        let mut last = String::new();
        let mut bytes = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json");
            let published = v["published"].as_str().expect("published").to_owned();
            assert!(published >= last, "{published} before {last}");
            last = published;
            bytes += line.len();
        }
        let average = bytes / 3000;
        assert!((1300..1700).contains(&average), "{average} bytes per event");
    }
}
