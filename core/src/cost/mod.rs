//! What a domain costs, estimated from a committed price table (`prices.json`): itemised
//! while idle, per million tokens, and what each non-default option adds. Pure: the table
//! is embedded at compile time, nothing asks AWS (prices in other regions differ, and the
//! estimate says so).
//!
//! Idle means no requests: Aurora with `minCapacity: 0` is paused and bills storage only,
//! Lambda and API Gateway bill nothing, so what remains is the KMS key, the secrets, the
//! stored data and images, and whatever runs by the hour (NAT gateways, a database that may
//! not pause). Tokens do not wake the database (the token path reads the read model in S3),
//! so a busy month is the idle month plus what the requests cost; what wakes the database
//! is administration, priced per wake.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::spec::{Architecture, AuthDomainManifest, AuthDomainSpec, NatGateway};

/// Billed duration of one token request in Lambda (a warm invocation; the server answers in
/// about 2 to 6 ms of its own work, docs/BENCHMARKS.md, plus the database round trip).
pub const TOKEN_BILLED_MS: f64 = 12.0;
/// Billed duration of one uncached decision of the Lambda authorizer (warm, keys cached).
pub const AUTHORIZER_BILLED_MS: f64 = 2.0;
/// CloudWatch Logs written per invocation: Lambda's START, END and REPORT lines and one
/// request line.
pub const LOG_KIB_PER_REQUEST: f64 = 1.0;
/// The smallest capacity of an Aurora Serverless v2 instance that is not paused.
pub const AWAKE_MIN_ACU: f64 = 0.5;
/// The read model's size per registered client (a client with two secret hashes and a
/// few scopes, JSON then gzip), bytes; docs/BENCHMARKS.md.
pub const READ_MODEL_BYTES_PER_CLIENT: f64 = 250.0;
/// The token volumes a month that `cost` prices besides the idle month.
pub const BUSY_MONTHS: [f64; 2] = [100_000.0, 1_000_000.0];

/// The auth server image as ECR stores it (one compressed layer), MB; docs/BENCHMARKS.md.
fn authserver_image_mb(a: Architecture) -> f64 {
    match a {
        Architecture::Arm64 => 6.6,
        Architecture::X86_64 => 7.0,
    }
}

/// The authorizer image as ECR stores it, MB (its static binary, gzip-compressed).
fn authorizer_image_mb(a: Architecture) -> f64 {
    match a {
        Architecture::Arm64 => 3.1,
        Architecture::X86_64 => 3.4,
    }
}

const MIB_PER_GIB: f64 = 1024.0;
const KIB_PER_GIB: f64 = 1024.0 * 1024.0;
const MILLION: f64 = 1_000_000.0;

/// A price list for one region on one date (`prices.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceTable {
    pub region: String,
    /// When the prices were read (`YYYY-MM-DD`).
    pub date: String,
    pub currency: String,
    /// Where the prices come from.
    pub source: String,
    /// Hours in a billing month (AWS's 730).
    pub hours_per_month: f64,
    pub prices: Prices,
}

/// One price per billed dimension this estimate uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Prices {
    pub kms_key: Price,
    pub secret: Price,
    pub aurora_acu_hour: Price,
    pub aurora_storage: Price,
    pub aurora_io: Price,
    pub ecr_storage: Price,
    pub nat_gateway_hour: Price,
    pub nat_gateway_data: Price,
    pub public_ipv4_hour: Price,
    pub lambda_requests: Price,
    pub lambda_duration_arm64: Price,
    #[serde(rename = "lambdaDurationX86_64")]
    pub lambda_duration_x86_64: Price,
    pub http_api_requests: Price,
    pub logs_ingestion: Price,
    pub s3_storage: Price,
    pub s3_get_requests: Price,
    pub s3_put_requests: Price,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Price of one `unit`.
    pub usd: f64,
    /// What is billed: `key-month`, `ACU-hour`, `GB-second`, `million requests`, …
    pub unit: String,
    /// What the price is for, as AWS's pricing pages name it.
    pub what: String,
}

impl PriceTable {
    /// The table committed with this version of AuthDomain (`core/src/cost/prices.json`).
    pub fn embedded() -> PriceTable {
        serde_json::from_str(include_str!("prices.json"))
            .expect("core/src/cost/prices.json parses (a unit test checks it)")
    }

    fn lambda_duration(&self, a: Architecture) -> &Price {
        match a {
            Architecture::Arm64 => &self.prices.lambda_duration_arm64,
            Architecture::X86_64 => &self.prices.lambda_duration_x86_64,
        }
    }
}

/// One billed line: `usd` = `quantity` × `unit_usd` (for a month in the idle list, for a
/// million tokens in the per-token list).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub name: String,
    pub quantity: f64,
    pub unit: String,
    pub unit_usd: f64,
    pub usd: f64,
    pub why: String,
}

fn item(name: impl Into<String>, quantity: f64, price: &Price, why: impl Into<String>) -> Item {
    Item {
        name: name.into(),
        quantity,
        unit: price.unit.clone(),
        unit_usd: price.usd,
        usd: quantity * price.usd,
        why: why.into(),
    }
}

/// A price per amount of use, for what no month of idling shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rate {
    pub usd: f64,
    /// `GB through the NAT gateways`, `million tokens`, …
    pub per: String,
}

/// What one non-default option adds, against that option's default with the rest of the
/// spec as it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptionCost {
    /// The option as written in the spec: `network.natGateway: perAz`.
    pub option: String,
    /// The spec has it, so the idle items include it.
    pub in_spec: bool,
    /// Added to the idle monthly cost.
    pub monthly_usd: f64,
    /// Added per amount of use, when it adds any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Rate>,
    pub why: String,
}

/// The price of a million token requests, with what it assumes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerMillionTokens {
    pub usd: f64,
    pub billed_ms: f64,
    pub memory_mb: u32,
    pub architecture: String,
    pub log_kib_per_request: f64,
    pub items: Vec<Item>,
    /// What the figure leaves out (chiefly the database while it is awake).
    pub not_included: String,
}

/// What a domain costs, estimated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub domain: String,
    /// Always true: these are estimates from a price table, not a bill.
    pub is_estimate: bool,
    /// Says so, with the table's date and region (and that the spec's may differ).
    pub note: String,
    pub currency: String,
    pub price_region: String,
    pub price_date: String,
    pub spec_region: String,
    /// The spec's region is not the table's: its prices may differ.
    pub region_differs: bool,
    pub hours_per_month: f64,
    pub idle: Vec<Item>,
    pub idle_monthly_usd: f64,
    pub per_million_tokens: PerMillionTokens,
    /// A month with tokens flowing (and nothing else): the idle month plus the tokens, the
    /// database asleep throughout.
    pub busy: Vec<BusyMonth>,
    /// What wakes the database, for how long, and what one wake costs.
    pub wakes: Wakes,
    /// What each non-default option adds (those in the spec are in `idle` already).
    pub options: Vec<OptionCost>,
}

/// A month of `tokens` token requests and no administration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusyMonth {
    pub tokens: f64,
    pub monthly_usd: f64,
    /// Always true: the token path does not touch the database.
    pub database_asleep: bool,
}

/// Waking the database: only administration does (the admin API, the portal, the CLI's and
/// the operator's changes, key rotation, migrations at deploy); tokens, JWKS, discovery and
/// introspection do not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wakes {
    /// How long one wake keeps it awake after the last connection closes, seconds
    /// (`database.secondsUntilAutoPause`).
    pub awake_seconds: u32,
    /// What one wake costs at least (the minimum awake capacity for that long).
    pub usd_per_wake: f64,
    pub why: String,
}

/// The choices that change what a domain bills; the options are priced by changing one.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Choices {
    nat: NatGateway,
    min_capacity: f64,
    readers: u8,
    authorizer: bool,
    architecture: Architecture,
}

impl Choices {
    fn of(s: &AuthDomainSpec) -> Choices {
        Choices {
            nat: s.network.nat_gateway,
            min_capacity: s.database.min_capacity,
            readers: s.database.readers,
            authorizer: s.wants_authorizer(),
            architecture: s.image.architecture,
        }
    }
}

fn plural(n: f64, one: &str, many: &str) -> String {
    format!("{} {}", number(n), if n == 1.0 { one } else { many })
}

/// The idle month, item by item.
fn idle(s: &AuthDomainSpec, c: Choices, t: &PriceTable) -> Vec<Item> {
    let p = &t.prices;
    let hours = t.hours_per_month;
    let db = &s.database;
    let mut out = vec![
        item(
            "KMS key",
            1.0,
            &p.kms_key,
            "the domain's key: encrypts the function's environment and the KEK secret",
        ),
        item(
            "Secrets Manager secrets",
            2.0,
            &p.secret,
            "the KEK secret and the database's master password (RDS manages that one)",
        ),
    ];
    let credentials = 1 + s.clients.len();
    out.push(item(
        "Client credential secrets",
        credentials as f64,
        &p.secret,
        format!(
            "kept by `authdomain bootstrap` (and the operator): the admin client and {}",
            plural(s.clients.len() as f64, "spec client", "spec clients")
        ),
    ));
    let read_model_gb = (credentials as f64 + 10.0) * READ_MODEL_BYTES_PER_CLIENT
        / (MIB_PER_GIB * MIB_PER_GIB * 1024.0);
    out.push(item(
        "S3 storage, read model",
        read_model_gb,
        &p.s3_storage,
        format!(
            "the published read model (about {} bytes per client); the gateway endpoint that reaches it costs nothing",
            number(READ_MODEL_BYTES_PER_CLIENT)
        ),
    ));
    out.push(item(
        "Aurora storage",
        db.expected_storage_gib,
        &p.aurora_storage,
        "spec.database.expectedStorageGiB; backups up to the cluster's size are free",
    ));
    let writer_why = if c.min_capacity == 0.0 {
        format!(
            "minCapacity 0: paused after {} s without connections, no compute billed (resuming takes about 15 s)",
            number(f64::from(db.seconds_until_auto_pause))
        )
    } else {
        format!(
            "minCapacity {}: at least {} ACU around the clock, it never pauses",
            number(c.min_capacity),
            number(c.min_capacity)
        )
    };
    out.push(item(
        "Aurora writer capacity",
        c.min_capacity * hours,
        &p.aurora_acu_hour,
        writer_why,
    ));
    if c.readers > 0 {
        let readers = f64::from(c.readers);
        let why = if c.min_capacity == 0.0 {
            format!(
                "{}, in promotion tier 1, following the writer: paused with it, nothing billed while paused (awake, each bills as the writer)",
                plural(readers, "reader", "readers")
            )
        } else {
            format!(
                "{} at minCapacity {} ACU around the clock",
                plural(readers, "reader", "readers"),
                number(c.min_capacity)
            )
        };
        out.push(item(
            "Aurora reader capacity",
            readers * c.min_capacity * hours,
            &p.aurora_acu_hour,
            why,
        ));
    }
    let keep = f64::from(s.image.keep_images);
    let mb = authserver_image_mb(c.architecture);
    out.push(item(
        "ECR storage, auth server images",
        keep * mb / MIB_PER_GIB,
        &p.ecr_storage,
        format!(
            "at most {} (spec.image.keepImages) of about {} MB each, compressed",
            plural(keep, "image", "images"),
            number(mb)
        ),
    ));
    if c.authorizer {
        let mb = authorizer_image_mb(c.architecture);
        out.push(item(
            "ECR storage, authorizer images",
            keep * mb / MIB_PER_GIB,
            &p.ecr_storage,
            format!(
                "a protected API has mode lambda: at most {} of about {} MB each",
                plural(keep, "image", "images"),
                number(mb)
            ),
        ));
    }
    let nats = match c.nat {
        NatGateway::None => 0.0,
        NatGateway::Single => 1.0,
        NatGateway::PerAz => f64::from(s.network.availability_zones),
    };
    if nats > 0.0 {
        out.push(item(
            format!("NAT gateways × {}", number(nats)),
            nats * hours,
            &p.nat_gateway_hour,
            format!(
                "network.natGateway {}: billed by the hour, plus ${} per GB through them",
                nat_name(c.nat),
                price_number(p.nat_gateway_data.usd)
            ),
        ));
        out.push(item(
            format!("Public IPv4 addresses × {}", number(nats)),
            nats * hours,
            &p.public_ipv4_hour,
            "one per NAT gateway",
        ));
    }
    out
}

fn nat_name(n: NatGateway) -> &'static str {
    match n {
        NatGateway::None => "none",
        NatGateway::Single => "single",
        NatGateway::PerAz => "perAz",
    }
}

/// What wakes the database and what a wake costs.
fn wakes(s: &AuthDomainSpec, t: &PriceTable) -> Wakes {
    let seconds = s.database.seconds_until_auto_pause;
    let hour = AWAKE_MIN_ACU * t.prices.aurora_acu_hour.usd;
    Wakes {
        awake_seconds: seconds,
        usd_per_wake: hour * f64::from(seconds) / 3600.0,
        why: format!(
            "Administration only: a change through the admin API, the portal, `authdomain apply` or the operator, a key rotation, the migrations of a new image. Tokens, JWKS, discovery, introspection and health checks read the read model in S3. Resuming takes about 15 s (30 s after a day paused); a wake bills at least {} ACU (${} an hour) until {} s pass without a connection, and the function closes its connections before each administrative request returns",
            number(AWAKE_MIN_ACU),
            price_number(hour),
            seconds
        ),
    }
}

fn total(items: &[Item]) -> f64 {
    items.iter().map(|i| i.usd).sum()
}

/// Items of one Lambda invocation class, for a million invocations.
fn invocations(
    what: &str,
    memory_mb: u32,
    billed_ms: f64,
    a: Architecture,
    t: &PriceTable,
) -> Vec<Item> {
    let p = &t.prices;
    let gb_seconds = MILLION * billed_ms / 1000.0 * f64::from(memory_mb) / MIB_PER_GIB;
    vec![
        item(
            "Lambda requests",
            1.0,
            &p.lambda_requests,
            format!("one invocation of the {what} each"),
        ),
        item(
            format!("Lambda duration, {}", a.as_str()),
            gb_seconds,
            t.lambda_duration(a),
            format!("{} ms billed at {memory_mb} MB each", number(billed_ms)),
        ),
        item(
            "CloudWatch Logs ingestion",
            MILLION * LOG_KIB_PER_REQUEST / KIB_PER_GIB,
            &p.logs_ingestion,
            format!(
                "about {} KiB of log lines per invocation",
                number(LOG_KIB_PER_REQUEST)
            ),
        ),
    ]
}

fn per_million_tokens(s: &AuthDomainSpec, a: Architecture, t: &PriceTable) -> PerMillionTokens {
    let p = &t.prices;
    let mut items = vec![item(
        "HTTP API requests",
        1.0,
        &p.http_api_requests,
        "one request to the token endpoint each (above 300 million a month the price drops)",
    )];
    items.extend(invocations(
        "auth server",
        s.function.memory,
        TOKEN_BILLED_MS,
        a,
        t,
    ));
    items.push(item(
        "S3 GET requests, read model",
        1.0,
        &p.s3_get_requests,
        "at most one conditional GET per token: an instance looks for a newer read model when its copy is 5 s old, and a 304 has no body",
    ));
    let not_included = if s.database.min_capacity == 0.0 {
        format!(
            "the database: tokens never wake it (see what wakes it). Also not included: S3 PUTs of `private_key_jwt` clients (one per assertion, ${} per million), log storage, data transfer out",
            price_number(p.s3_put_requests.usd)
        )
    } else {
        format!(
            "database capacity above minCapacity under load (${} per ACU-hour), Aurora I/O that misses the cache (${} per million), log storage, data transfer out",
            price_number(p.aurora_acu_hour.usd),
            price_number(p.aurora_io.usd)
        )
    };
    PerMillionTokens {
        usd: total(&items),
        billed_ms: TOKEN_BILLED_MS,
        memory_mb: s.function.memory,
        architecture: a.as_str().to_owned(),
        log_kib_per_request: LOG_KIB_PER_REQUEST,
        items,
        not_included,
    }
}

/// What each non-default option adds: the idle month with the option, less the idle month
/// with that option at its default (everything else as in the spec).
fn options(s: &AuthDomainSpec, c: Choices, t: &PriceTable) -> Vec<OptionCost> {
    let p = &t.prices;
    let added =
        |with: Choices, without: Choices| total(&idle(s, with, t)) - total(&idle(s, without, t));
    let mut out = Vec::new();

    let zones = s.network.availability_zones;
    for (nat, why) in [
        (
            NatGateway::Single,
            "one NAT gateway and its public IPv4 address, by the hour".to_owned(),
        ),
        (
            NatGateway::PerAz,
            format!(
                "{zones} NAT gateways (one per zone, network.availabilityZones) and their public IPv4 addresses, by the hour"
            ),
        ),
    ] {
        out.push(OptionCost {
            option: format!("network.natGateway: {}", nat_name(nat)),
            in_spec: c.nat == nat,
            monthly_usd: added(
                Choices { nat, ..c },
                Choices {
                    nat: NatGateway::None,
                    ..c
                },
            ),
            usage: Some(Rate {
                usd: p.nat_gateway_data.usd,
                per: "GB through the NAT gateways".into(),
            }),
            why,
        });
    }

    let min = if c.min_capacity > 0.0 {
        c.min_capacity
    } else {
        AWAKE_MIN_ACU
    };
    out.push(OptionCost {
        option: format!("database.minCapacity: {}", number(min)),
        in_spec: c.min_capacity > 0.0,
        monthly_usd: added(
            Choices {
                min_capacity: min,
                ..c
            },
            Choices {
                min_capacity: 0.0,
                ..c
            },
        ),
        usage: None,
        why: format!(
            "the writer{} at {} ACU around the clock: the database never pauses, so no request waits for it to resume",
            if c.readers > 0 {
                format!(" and {}", plural(f64::from(c.readers), "reader", "readers"))
            } else {
                String::new()
            },
            number(min)
        ),
    });

    let readers = if c.readers > 0 { c.readers } else { 1 };
    let readers_why = if c.min_capacity == 0.0 {
        "Serverless v2 readers in promotion tiers 0-1 (ours: 1) follow the writer; with minCapacity 0 they pause with it, so at 0 ACU they add nothing while paused (awake, each bills as the writer)".to_owned()
    } else {
        format!(
            "each reader at minCapacity {} ACU around the clock",
            number(c.min_capacity)
        )
    };
    out.push(OptionCost {
        option: format!("database.readers: {readers}"),
        in_spec: c.readers > 0,
        monthly_usd: added(Choices { readers, ..c }, Choices { readers: 0, ..c }),
        usage: None,
        why: readers_why,
    });

    let authorizer_use = invocations(
        "authorizer",
        s.authorizer.memory,
        AUTHORIZER_BILLED_MS,
        c.architecture,
        t,
    );
    out.push(OptionCost {
        option: "protectedApis mode: lambda".into(),
        in_spec: c.authorizer,
        monthly_usd: added(
            Choices {
                authorizer: true,
                ..c
            },
            Choices {
                authorizer: false,
                ..c
            },
        ),
        usage: Some(Rate {
            usd: total(&authorizer_use),
            per: "million uncached authorizer decisions".into(),
        }),
        why: format!(
            "a second function (authorizer.memory {} MB, {} ms billed a decision): idle, only its images; HTTP APIs cache a decision per token and route for 5 minutes, REST APIs do not. mode jwt costs nothing",
            s.authorizer.memory,
            number(AUTHORIZER_BILLED_MS)
        ),
    });

    let x86 = Choices {
        architecture: Architecture::X86_64,
        ..c
    };
    let arm = Choices {
        architecture: Architecture::Arm64,
        ..c
    };
    out.push(OptionCost {
        option: "image.architecture: x86_64".into(),
        in_spec: c.architecture == Architecture::X86_64,
        monthly_usd: added(x86, arm),
        usage: Some(Rate {
            usd: per_million_tokens(s, Architecture::X86_64, t).usd
                - per_million_tokens(s, Architecture::Arm64, t).usd,
            per: "million tokens".into(),
        }),
        why: "Lambda bills x86_64 duration higher than arm64, and its image is a little larger"
            .into(),
    });
    out
}

/// Estimate what the manifest's domain costs, from `table`.
pub fn estimate(m: &AuthDomainManifest, table: &PriceTable) -> Estimate {
    let s = &m.spec;
    let c = Choices::of(s);
    let idle = idle(s, c, table);
    let region_differs = s.region != table.region;
    let region_note = if region_differs {
        format!(
            "; prices in {} (the spec's region) may differ from {}'s",
            s.region, table.region
        )
    } else {
        String::new()
    };
    Estimate {
        domain: m.metadata.name.clone(),
        is_estimate: true,
        note: format!(
            "Estimates, not a bill: {} on-demand prices from the table of {} for {}, no free tier{region_note}.",
            table.currency, table.date, table.region
        ),
        currency: table.currency.clone(),
        price_region: table.region.clone(),
        price_date: table.date.clone(),
        spec_region: s.region.clone(),
        region_differs,
        hours_per_month: table.hours_per_month,
        idle_monthly_usd: total(&idle),
        busy: {
            let per = per_million_tokens(s, c.architecture, table).usd;
            BUSY_MONTHS
                .iter()
                .map(|&tokens| BusyMonth {
                    tokens,
                    monthly_usd: total(&idle) + tokens / MILLION * per,
                    database_asleep: s.database.min_capacity == 0.0,
                })
                .collect()
        },
        wakes: wakes(s, table),
        idle,
        per_million_tokens: per_million_tokens(s, c.architecture, table),
        options: options(s, c, table),
    }
}

/// One line for `authdomain plan`: the idle month and a million tokens.
pub fn summary(e: &Estimate, file: &str) -> String {
    let differs = if e.region_differs {
        format!("; {} may differ", e.spec_region)
    } else {
        String::new()
    };
    let busy: Vec<String> = e
        .busy
        .iter()
        .map(|b| format!("{} with {} tokens", money(b.monthly_usd), tokens(b.tokens)))
        .collect();
    format!(
        "estimated cost a month: {} idle, {} (the database asleep while only tokens flow; each administrative change wakes it for {} s, about {}) ({} prices for {}{differs}); `authdomain cost -f {file}` itemises it",
        money(e.idle_monthly_usd),
        busy.join(", "),
        e.wakes.awake_seconds,
        money(e.wakes.usd_per_wake),
        e.price_date,
        e.price_region
    )
}

/// `100k`, `1M`, `2.5M`.
fn tokens(n: f64) -> String {
    if n >= MILLION {
        format!("{}M", number(n / MILLION))
    } else if n >= 1000.0 {
        format!("{}k", number(n / 1000.0))
    } else {
        number(n)
    }
}

/// The estimate as aligned text tables: the idle month, the options, a million tokens.
pub fn table(e: &Estimate) -> String {
    let mut s = String::new();
    let item_rows = |items: &[Item]| -> Vec<Vec<String>> {
        items
            .iter()
            .map(|i| {
                vec![
                    i.name.clone(),
                    format!("{} {}", number(i.quantity), i.unit),
                    format!("{}/{}", price(i.unit_usd), i.unit),
                    money(i.usd),
                    i.why.clone(),
                ]
            })
            .collect()
    };
    let right = [false, true, true, true, false];

    let _ = writeln!(
        s,
        "{}: estimated cost while idle, a month ({})\n",
        e.domain, e.currency
    );
    let mut rows = item_rows(&e.idle);
    rows.push(vec![
        "Idle total".into(),
        String::new(),
        String::new(),
        money(e.idle_monthly_usd),
        String::new(),
    ]);
    s.push_str(&grid(
        &["ITEM", "QUANTITY", "UNIT PRICE", "MONTHLY", "WHY"],
        &rows,
        &right,
    ));

    let _ = writeln!(
        s,
        "\nWhat each non-default option adds (against its default, the rest of the spec as it is):\n"
    );
    let rows: Vec<Vec<String>> = e
        .options
        .iter()
        .map(|o| {
            vec![
                o.option.clone(),
                if o.in_spec { "yes" } else { "no" }.into(),
                format!("+{}", money(o.monthly_usd)),
                o.usage
                    .as_ref()
                    .map(|r| format!("+{} per {}", rate(r.usd), r.per))
                    .unwrap_or_default(),
                o.why.clone(),
            ]
        })
        .collect();
    s.push_str(&grid(
        &["OPTION", "IN SPEC", "MONTHLY", "WITH USE", "WHY"],
        &rows,
        &[false, false, true, false, false],
    ));

    let t = &e.per_million_tokens;
    let _ = writeln!(s, "\nA million tokens:\n");
    let mut rows = item_rows(&t.items);
    rows.push(vec![
        "Per million tokens".into(),
        String::new(),
        String::new(),
        money(t.usd),
        String::new(),
    ]);
    s.push_str(&grid(
        &["ITEM", "QUANTITY", "UNIT PRICE", "COST", "WHY"],
        &rows,
        &right,
    ));
    let _ = writeln!(
        s,
        "\nPer million tokens: {} (each token: one HTTP API request and one Lambda invocation billed {} ms at {} MB, {}, with about {} KiB of logs). Not included: {}.",
        money(t.usd),
        number(t.billed_ms),
        t.memory_mb,
        t.architecture,
        number(t.log_kib_per_request),
        t.not_included
    );
    let _ = writeln!(
        s,
        "\nA month with tokens flowing (the database asleep: tokens never wake it):\n"
    );
    let mut rows = vec![vec!["idle".to_owned(), money(e.idle_monthly_usd)]];
    rows.extend(
        e.busy
            .iter()
            .map(|b| vec![format!("{} tokens", tokens(b.tokens)), money(b.monthly_usd)]),
    );
    s.push_str(&grid(&["MONTH", "MONTHLY"], &rows, &[false, true]));
    let _ = writeln!(
        s,
        "\nWhat wakes the database: {}. One wake: {} s awake, {}.",
        e.wakes.why,
        e.wakes.awake_seconds,
        rate(e.wakes.usd_per_wake)
    );
    let _ = writeln!(s, "{}", e.note);
    s
}

/// Columns padded to their widest cell (`right`: aligned right), two spaces apart.
fn grid(header: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut s = String::new();
    for r in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if right[i] {
                    format!("{c:>w$}", w = width[i])
                } else {
                    format!("{c:w$}", w = width[i])
                }
            })
            .collect();
        let _ = writeln!(s, "{}", line.join("  ").trim_end());
    }
    s
}

/// `$1,234.56`; a positive amount under a cent is `<$0.01`.
fn money(usd: f64) -> String {
    if usd > 0.0 && usd < 0.01 {
        return "<$0.01".into();
    }
    let cents = (usd.abs() * 100.0).round() as u64;
    let sign = if usd < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}${}.{:02}", thousands(cents / 100), cents % 100)
}

/// A rate: two decimals from a dollar up, two significant digits below (`$0.045`, `$0.68`).
fn rate(usd: f64) -> String {
    if usd >= 1.0 || usd <= 0.0 {
        return money(usd);
    }
    let decimals = (1 - usd.log10().floor() as i32).max(2) as usize;
    let s = format!("{usd:.decimals$}");
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    let frac = frac.trim_end_matches('0');
    format!("${whole}.{frac:0<2}")
}

/// A unit price as the table has it: `$1.00`, `$0.045`, `$0.0000133334`.
fn price(usd: f64) -> String {
    format!("${}", price_number(usd))
}

fn price_number(usd: f64) -> String {
    let two = format!("{usd:.2}");
    if two.parse::<f64>().is_ok_and(|v| (v - usd).abs() < 1e-12) {
        two
    } else {
        // Rounded so that sums such as 0.5 × 0.12 do not print their binary residue.
        let s = format!("{usd:.10}");
        s.trim_end_matches('0').to_owned()
    }
}

/// A quantity: whole numbers with thousands separators, others to 4 decimals.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        let sign = if x < 0.0 { "-" } else { "" };
        return format!("{sign}{}", thousands(x.abs() as u64));
    }
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s.split_once('.') {
        Some((whole, frac)) => match whole.parse::<u64>() {
            Ok(w) => format!("{}.{frac}", thousands(w)),
            Err(_) => s.to_owned(),
        },
        None => s.to_owned(),
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load_str;

    const HEAD: &str =
        "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: demo\nspec:\n";

    fn manifest(spec: &str) -> AuthDomainManifest {
        load_str(&format!("{HEAD}{spec}"), "demo.yaml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn default_spec() -> AuthDomainManifest {
        manifest("  region: us-east-1\n")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    fn find<'a>(items: &'a [Item], name: &str) -> &'a Item {
        items
            .iter()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("no item {name:?} in {items:#?}"))
    }

    fn option<'a>(e: &'a Estimate, name: &str) -> &'a OptionCost {
        e.options
            .iter()
            .find(|o| o.option == name)
            .unwrap_or_else(|| panic!("no option {name:?} in {:#?}", e.options))
    }

    #[test]
    fn the_embedded_table_is_us_east_1_on_the_stated_date() {
        let t = PriceTable::embedded();
        assert_eq!(
            (t.region.as_str(), t.date.as_str(), t.currency.as_str()),
            ("us-east-1", "2026-12-01", "USD")
        );
        assert_eq!(t.hours_per_month, 730.0);
        assert!(t.source.contains("on-demand"), "{}", t.source);
        assert_eq!(t.prices.kms_key.usd, 1.0);
        assert_eq!(t.prices.lambda_duration_x86_64.usd, 0.0000166667);
    }

    #[test]
    fn every_item_is_quantity_times_the_tables_unit_price() {
        let t = PriceTable::embedded();
        let p = &t.prices;
        let m = manifest(
            "  region: us-east-1\n  network:\n    natGateway: perAz\n  database:\n    minCapacity: 1\n    maxCapacity: 4\n    readers: 2\n  resourceServers:\n    - identifier: https://orders\n      scopes: [{name: read}]\n  clients:\n    - name: a\n      scopes: [read]\n  protectedApis:\n    - name: orders\n      apiId: a1b2c3d4e5\n      mode: lambda\n      identifier: https://orders\n      routes:\n        - route: GET /orders\n",
        );
        let e = estimate(&m, &t);
        let known = [
            &p.kms_key,
            &p.secret,
            &p.aurora_acu_hour,
            &p.aurora_storage,
            &p.ecr_storage,
            &p.nat_gateway_hour,
            &p.public_ipv4_hour,
            &p.lambda_requests,
            &p.lambda_duration_arm64,
            &p.http_api_requests,
            &p.logs_ingestion,
            &p.s3_storage,
            &p.s3_get_requests,
        ];
        for i in e.idle.iter().chain(&e.per_million_tokens.items) {
            assert!(
                known
                    .iter()
                    .any(|k| k.usd == i.unit_usd && k.unit == i.unit),
                "{i:?} is not priced from the table"
            );
            assert!(close(i.usd, i.quantity * i.unit_usd), "{i:?}");
        }
        let hours = t.hours_per_month;
        assert!(close(find(&e.idle, "KMS key").usd, p.kms_key.usd));
        assert!(close(
            find(&e.idle, "Secrets Manager secrets").usd,
            2.0 * p.secret.usd
        ));
        assert!(close(
            find(&e.idle, "Client credential secrets").usd,
            2.0 * p.secret.usd
        ));
        assert!(close(
            find(&e.idle, "Aurora writer capacity").usd,
            hours * p.aurora_acu_hour.usd
        ));
        assert!(close(
            find(&e.idle, "Aurora reader capacity").usd,
            2.0 * hours * p.aurora_acu_hour.usd
        ));
        assert!(close(
            find(&e.idle, "ECR storage, authorizer images").quantity,
            10.0 * authorizer_image_mb(Architecture::Arm64) / 1024.0
        ));
        assert!(close(e.idle_monthly_usd, total(&e.idle)));
        assert!(close(
            e.per_million_tokens.usd,
            total(&e.per_million_tokens.items)
        ));
    }

    #[test]
    fn the_default_spec_idles_under_three_dollars_a_month() {
        let t = PriceTable::embedded();
        let p = &t.prices;
        let e = estimate(&default_spec(), &t);
        let sum: f64 = e.idle.iter().map(|i| i.usd).sum();
        assert!(close(e.idle_monthly_usd, sum));
        // KMS key, KEK and master password secrets, the admin client's secret, 1 GiB of
        // storage, 10 images; nothing runs by the hour.
        let expected = p.kms_key.usd
            + 3.0 * p.secret.usd
            + 1.0 * p.aurora_storage.usd
            + 10.0 * 6.6 / 1024.0 * p.ecr_storage.usd
            + 11.0 * READ_MODEL_BYTES_PER_CLIENT / (1024.0 * 1024.0 * 1024.0) * p.s3_storage.usd;
        assert!(close(e.idle_monthly_usd, expected), "{}", table(&e));
        assert!(e.idle_monthly_usd < 3.0, "{}", table(&e));
        assert_eq!(find(&e.idle, "Aurora writer capacity").usd, 0.0);
        assert!(!e.idle.iter().any(|i| i.name.starts_with("NAT")));
        assert_eq!(money(e.idle_monthly_usd), "$2.31");
        assert!(e.options.iter().all(|o| !o.in_spec));
    }

    #[test]
    fn nat_gateway_per_az_adds_a_nat_and_an_ipv4_address_per_zone() {
        let t = PriceTable::embedded();
        let p = &t.prices;
        let hours = t.hours_per_month;
        let base = estimate(
            &manifest("  region: us-east-1\n  network:\n    availabilityZones: 3\n"),
            &t,
        );
        let per_az = estimate(
            &manifest(
                "  region: us-east-1\n  network:\n    availabilityZones: 3\n    natGateway: perAz\n",
            ),
            &t,
        );
        let nat = find(&per_az.idle, "NAT gateways × 3");
        assert!(close(nat.quantity, 3.0 * hours));
        assert!(close(nat.usd, 3.0 * hours * p.nat_gateway_hour.usd));
        let ipv4 = find(&per_az.idle, "Public IPv4 addresses × 3");
        assert!(close(ipv4.usd, 3.0 * hours * p.public_ipv4_hour.usd));
        let added = 3.0 * hours * (p.nat_gateway_hour.usd + p.public_ipv4_hour.usd);
        assert!(close(
            per_az.idle_monthly_usd - base.idle_monthly_usd,
            added
        ));
        // The option's price, from the default spec and from the spec that has it.
        let o = option(&base, "network.natGateway: perAz");
        assert!(!o.in_spec && close(o.monthly_usd, added));
        let o = option(&per_az, "network.natGateway: perAz");
        assert!(o.in_spec && close(o.monthly_usd, added));
        let single = option(&base, "network.natGateway: single");
        assert!(close(
            single.monthly_usd,
            hours * (p.nat_gateway_hour.usd + p.public_ipv4_hour.usd)
        ));
        assert_eq!(
            single.usage.as_ref().map(|r| r.usd),
            Some(p.nat_gateway_data.usd)
        );
    }

    #[test]
    fn min_capacity_half_an_acu_with_one_reader_adds_two_instances_around_the_clock() {
        let t = PriceTable::embedded();
        let p = &t.prices;
        let added = 2.0 * 0.5 * t.hours_per_month * p.aurora_acu_hour.usd;
        let paused = estimate(
            &manifest("  region: us-east-1\n  database:\n    readers: 1\n"),
            &t,
        );
        let awake = estimate(
            &manifest("  region: us-east-1\n  database:\n    minCapacity: 0.5\n    readers: 1\n"),
            &t,
        );
        assert!(close(
            awake.idle_monthly_usd - paused.idle_monthly_usd,
            added
        ));
        // A reader of a database that pauses adds nothing while paused, and says why.
        let reader = find(&paused.idle, "Aurora reader capacity");
        assert_eq!(reader.usd, 0.0);
        assert!(reader.why.contains("paused with it"), "{}", reader.why);
        let default = estimate(&default_spec(), &t);
        let o = option(&default, "database.readers: 1");
        assert_eq!(o.monthly_usd, 0.0);
        assert!(o.why.contains("promotion tiers 0-1"), "{}", o.why);
        let o = option(&paused, "database.minCapacity: 0.5");
        assert!(!o.in_spec && close(o.monthly_usd, added));
        let o = option(&awake, "database.minCapacity: 0.5");
        assert!(o.in_spec && close(o.monthly_usd, added));
    }

    #[test]
    fn arm64_and_x86_64_differ_per_million_tokens_by_the_duration_prices() {
        let t = PriceTable::embedded();
        let p = &t.prices;
        let arm = estimate(&default_spec(), &t).per_million_tokens;
        let x86 = estimate(
            &manifest("  region: us-east-1\n  image:\n    architecture: x86_64\n"),
            &t,
        )
        .per_million_tokens;
        let gb_seconds = 1e6 * TOKEN_BILLED_MS / 1000.0 * 512.0 / 1024.0;
        assert!(close(
            x86.usd - arm.usd,
            gb_seconds * (p.lambda_duration_x86_64.usd - p.lambda_duration_arm64.usd)
        ));
        // One HTTP API request, one invocation and its logs per token, and at most one
        // conditional GET of the read model.
        let expected = p.http_api_requests.usd
            + p.lambda_requests.usd
            + gb_seconds * p.lambda_duration_arm64.usd
            + 1e6 * LOG_KIB_PER_REQUEST / (1024.0 * 1024.0) * p.logs_ingestion.usd
            + p.s3_get_requests.usd;
        assert!(close(arm.usd, expected));
        assert_eq!((arm.architecture.as_str(), arm.memory_mb), ("arm64", 512));
        let default = estimate(&default_spec(), &t);
        let o = option(&default, "image.architecture: x86_64");
        assert!(close(o.usage.as_ref().unwrap().usd, x86.usd - arm.usd));
    }

    #[test]
    fn a_spec_region_other_than_the_tables_is_flagged() {
        let t = PriceTable::embedded();
        let same = estimate(&default_spec(), &t);
        assert!(!same.region_differs && same.is_estimate);
        assert!(!same.note.contains("may differ"), "{}", same.note);
        let other = estimate(&manifest("  region: eu-west-1\n"), &t);
        assert!(other.region_differs);
        assert_eq!(
            (other.spec_region.as_str(), other.price_region.as_str()),
            ("eu-west-1", "us-east-1")
        );
        assert!(
            other.note.contains("eu-west-1") && other.note.contains("may differ"),
            "{}",
            other.note
        );
        assert!(summary(&other, "d.yaml").contains("eu-west-1 may differ"));
    }

    #[test]
    fn the_text_table_is_aligned_and_ends_with_tokens_and_the_note() {
        let t = PriceTable::embedded();
        let e = estimate(&manifest("  region: eu-west-1\n"), &t);
        let text = table(&e);
        let lines: Vec<&str> = text.lines().collect();
        let header = lines
            .iter()
            .position(|l| l.starts_with("ITEM"))
            .expect("a header");
        // The MONTHLY column ends at the same place on every row of the idle table.
        let end = lines[header].find("MONTHLY").unwrap() + "MONTHLY".len();
        for l in lines[header + 1..].iter().take_while(|l| !l.is_empty()) {
            assert!(
                l[..end].ends_with(|c: char| c.is_ascii_digit()),
                "misaligned: {l:?}\n{text}"
            );
        }
        assert!(text.contains("<$0.01"), "{text}");
        assert!(text.contains("$1.00/key-month"), "{text}");
        assert!(
            text.contains("Idle total") && text.contains("$2.31"),
            "{text}"
        );
        let last: Vec<&&str> = lines.iter().rev().take(2).collect();
        let per = lines
            .iter()
            .find(|l| l.starts_with("Per million tokens: "))
            .expect("the per-token line");
        assert!(per.starts_with("Per million tokens: $2.1"), "{text}");
        assert!(per.contains("12 ms at 512 MB, arm64"), "{text}");
        let wakes = lines
            .iter()
            .find(|l| l.starts_with("What wakes the database: Administration only"))
            .expect("what wakes the database");
        assert!(wakes.contains("300 s awake"), "{text}");
        assert!(
            last[0].starts_with("Estimates")
                && last[0].contains("2026-12-01")
                && last[0].contains("us-east-1"),
            "{text}"
        );
    }

    #[test]
    fn amounts_and_quantities_read_well() {
        assert_eq!(money(0.0), "$0.00");
        assert_eq!(money(0.004), "<$0.01");
        assert_eq!(money(1234.5), "$1,234.50");
        assert_eq!(price(0.045), "$0.045");
        assert_eq!(price(0.0000133334), "$0.0000133334");
        assert_eq!(price(0.5 * 0.12), "$0.06");
        assert_eq!(number(2190.0), "2,190");
        assert_eq!(number(0.064453125), "0.0645");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(rate(0.045), "$0.045");
        assert_eq!(rate(0.0199998), "$0.02");
        assert_eq!(rate(0.6784), "$0.68");
        assert_eq!(rate(0.00004), "$0.00004");
        assert_eq!(rate(12.345), "$12.35");
    }

    #[test]
    fn expected_storage_is_validated_and_priced() {
        let t = PriceTable::embedded();
        let e = estimate(
            &manifest("  region: us-east-1\n  database:\n    expectedStorageGiB: 50\n"),
            &t,
        );
        assert!(close(
            find(&e.idle, "Aurora storage").usd,
            50.0 * t.prices.aurora_storage.usd
        ));
        for bad in ["0", "-1", "200000"] {
            let err = load_str(
                &format!("{HEAD}  region: us-east-1\n  database:\n    expectedStorageGiB: {bad}\n"),
                "demo.yaml",
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("spec.database.expectedStorageGiB"), "{err}");
        }
    }
}
