//! The management commands: admin clients, clients and their secrets, resource servers,
//! signing keys. Each calls the same `Authority` operations as the admin API.

use anyhow::Context as _;
use authdomain_api::{ClientInput, ResourceServerInput, ScopeInput};
use authserver::Authority;
use authserver::admin::{Actor, Via};

use super::{AdminClientCommand, ClientsCommand, Command, KeysCommand, ResourceServersCommand};

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialisable")
    );
}

pub async fn run(a: &Authority, command: Command) -> anyhow::Result<()> {
    let me = &Actor::system(Via::Cli, "cli");
    match command {
        Command::AdminClient(AdminClientCommand::Create { name, json }) => {
            let c = a.create_admin_client(me, &name).await?;
            if json {
                print_json(&c);
            } else {
                println!("client_id:     {}", c.client.client_id);
                println!("client_secret: {}", c.client_secret.unwrap_or_default());
                println!("scope:         authdomain:admin (shown once: store the secret now)");
            }
        }
        Command::Clients(ClientsCommand::Create {
            name,
            scopes,
            default_scopes,
            client_id,
            token_ttl,
            auth_method,
            jwks_uri,
            jwks_file,
            json,
        }) => {
            let jwks = match jwks_file {
                Some(p) => Some(
                    serde_json::from_str(
                        &std::fs::read_to_string(&p)
                            .with_context(|| format!("reading {}", p.display()))?,
                    )
                    .with_context(|| format!("{} is not JSON", p.display()))?,
                ),
                None => None,
            };
            let c = a
                .create_client(
                    me,
                    ClientInput {
                        client_id,
                        name,
                        scopes,
                        default_scopes: (!default_scopes.is_empty()).then_some(default_scopes),
                        token_ttl_seconds: token_ttl,
                        token_endpoint_auth_method: Some(auth_method),
                        jwks,
                        jwks_uri,
                        ..ClientInput::default()
                    },
                )
                .await?;
            if json {
                print_json(&c);
            } else {
                println!("client_id:     {}", c.client.client_id);
                if let Some(s) = &c.client_secret {
                    println!("client_secret: {s}   (shown once)");
                }
                println!("scopes:        {}", c.client.scopes.join(" "));
            }
        }
        Command::Clients(ClientsCommand::List { json }) => {
            let clients = a.list_clients(me).await?;
            if json {
                print_json(&clients);
            } else {
                for c in clients {
                    println!(
                        "{}\t{}\t{}\t{}",
                        c.client_id,
                        c.name,
                        c.token_endpoint_auth_method,
                        c.scopes.join(" ")
                    );
                }
            }
        }
        Command::Clients(ClientsCommand::Delete { client_id }) => {
            a.delete_client(me, &client_id).await?;
            eprintln!("deleted client {client_id}");
        }
        Command::Clients(ClientsCommand::AddSecret { client_id, json }) => {
            let s = a.add_client_secret(me, &client_id).await?;
            if json {
                print_json(&s);
            } else {
                println!("secret_id:     {}", s.secret_id);
                println!("client_secret: {}   (shown once)", s.client_secret);
            }
        }
        Command::Clients(ClientsCommand::RevokeSecret {
            client_id,
            secret_id,
        }) => {
            a.revoke_client_secret(me, &client_id, &secret_id).await?;
            eprintln!("revoked secret {secret_id} of client {client_id}");
        }
        Command::ResourceServers(ResourceServersCommand::Create {
            identifier,
            name,
            scopes,
            team,
            json,
        }) => {
            let scopes = scopes
                .iter()
                .map(|s| match s.split_once('=') {
                    Some((n, d)) => ScopeInput {
                        name: n.to_owned(),
                        description: d.to_owned(),
                    },
                    None => ScopeInput {
                        name: s.clone(),
                        description: String::new(),
                    },
                })
                .collect();
            let r = a
                .create_resource_server(
                    me,
                    ResourceServerInput {
                        identifier,
                        name,
                        scopes,
                        team,
                        managed_by: None,
                    },
                )
                .await?;
            if json {
                print_json(&r);
            } else {
                println!(
                    "{}\t{}",
                    r.identifier,
                    r.scopes
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
        Command::ResourceServers(ResourceServersCommand::List { json }) => {
            let list = a.list_resource_servers(me).await?;
            if json {
                print_json(&list);
            } else {
                for r in list {
                    println!(
                        "{}\t{}",
                        r.identifier,
                        r.scopes
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
            }
        }
        Command::ResourceServers(ResourceServersCommand::Delete { identifier }) => {
            a.delete_resource_server(me, &identifier).await?;
            eprintln!("deleted resource server {identifier}");
        }
        Command::Keys(KeysCommand::Rotate { force, json }) => {
            let k = a.rotate_signing_keys(me, force).await?;
            if json {
                print_json(&k);
            } else {
                println!("active key is now {} ({})", k.kid, k.alg);
            }
        }
        Command::Keys(KeysCommand::List { json }) => {
            let keys = a.list_keys(me).await?;
            if json {
                print_json(&keys);
            } else {
                for k in keys {
                    println!("{}\t{}\t{}", k.kid, k.alg, k.state);
                }
            }
        }
        Command::Serve { .. } | Command::Migrate | Command::Publish => {
            unreachable!("handled by run")
        }
    }
    Ok(())
}
