//! A sandbox: one database and one vhost of the same name on the shared
//! servers, for one test or one bench phase. Removed by [`Sandbox::remove`]
//! or, failing that, when dropped: its vhost always (every vhost's quorum
//! queues slow a broker restart), its database unless the thread is
//! panicking (a failed test's data is kept, with its logs, for a
//! post-mortem).

use crate::{
    postgres::{create_database, drop_database},
    rabbitmq::Management,
    Error, Result, Servers,
};

#[derive(Debug)]
pub struct Sandbox {
    /// The database's and the vhost's name.
    pub name: String,
    pub database_url: String,
    pub amqp_url: String,
    servers: Servers,
    removed: bool,
}

impl Sandbox {
    /// Makes database and vhost `name` (`[a-z0-9_]`), side by side. If
    /// either cannot be made, whatever was is removed again.
    pub async fn create(servers: &Servers, name: &str) -> Result<Self> {
        let management = Management::new(servers);
        let (database, vhost) = tokio::join!(
            create_database(servers, name),
            management.add_vhost(servers, name)
        );
        match (database, vhost) {
            (Ok(database_url), Ok(amqp_url)) => Ok(Self {
                name: name.to_owned(),
                database_url,
                amqp_url,
                servers: servers.clone(),
                removed: false,
            }),
            (Err(e), _) | (_, Err(e)) => {
                let _ = remove(servers, name, false).await;
                Err(e)
            }
        }
    }

    /// Drops the database and deletes the vhost (stop the services first).
    pub async fn remove(mut self) -> Result<()> {
        self.removed = true;
        remove(&self.servers, &self.name, false).await
    }
}

async fn remove(servers: &Servers, name: &str, keep_database: bool) -> Result<()> {
    let management = Management::new(servers);
    let vhost = management.delete_vhost(name);
    let database = async {
        if keep_database {
            Ok(())
        } else {
            drop_database(servers, name).await
        }
    };
    let (vhost, database) = tokio::join!(vhost, database);
    vhost.and(database)
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let keep_database = std::thread::panicking();
        if keep_database {
            eprintln!("stack-kit: database {} kept for a post-mortem", self.name);
        }
        // Drop cannot await, and the caller's runtime may be the
        // single-threaded one of a test: clean up on a thread of our own.
        let (servers, name) = (self.servers.clone(), self.name.clone());
        let outcome = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::io("building a runtime to clean up with"))?
                .block_on(remove(&servers, &name, keep_database))
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("stack-kit: could not remove {}: {e}", self.name),
            Err(_) => eprintln!("stack-kit: removing {} panicked", self.name),
        }
    }
}
