//! CA and device certificates, and which things they are attached to.

use super::*;

#[async_trait]
impl CertificateStore for SqlStore {
    async fn insert_ca(&self, ca: &CaCertificate) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ca_certificates (id, pem, status, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&ca.id)
        .bind(&ca.pem)
        .bind(ca.status.as_str())
        .bind(ca.created_at)
        .execute(&self.writer)
        .await
        .map_err(unique("CA certificate", &ca.id))?;
        Ok(())
    }

    async fn list_cas(&self) -> StoreResult<Vec<CaCertificate>> {
        sqlx::query(
            "SELECT id, pem, status, created_at FROM ca_certificates ORDER BY created_at, id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .iter()
        .map(ca_from_row)
        .collect()
    }

    async fn insert_certificate(&self, cert: &Certificate) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        // Checked first to say which key collides; the constraints still guard the insert.
        if exists(&mut tx, CERT_EXISTS, &cert.id).await? {
            return Err(StoreError::AlreadyExists {
                kind: "certificate",
                name: cert.id.clone(),
            });
        }
        let pair = format!("subject '{}' serial {}", cert.subject, cert.serial);
        let taken = sqlx::query("SELECT id FROM certificates WHERE subject = $1 AND serial = $2")
            .bind(&cert.subject)
            .bind(&cert.serial)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if taken.is_some() {
            return Err(StoreError::AlreadyExists {
                kind: "certificate",
                name: pair,
            });
        }
        sqlx::query(
            "INSERT INTO certificates (id, pem, status, ca_id, subject, serial, not_after, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&cert.id)
        .bind(&cert.pem)
        .bind(cert.status.as_str())
        .bind(&cert.ca_id)
        .bind(&cert.subject)
        .bind(&cert.serial)
        .bind(cert.not_after)
        .bind(cert.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique("certificate", &cert.id))?;
        tx.commit().await.map_err(db)
    }

    async fn get_certificate(&self, id: &str) -> StoreResult<Option<Certificate>> {
        sqlx::query(
            "SELECT id, pem, status, ca_id, subject, serial, not_after, created_at
             FROM certificates WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(cert_from_row)
        .transpose()
    }

    async fn find_certificate(
        &self,
        subject: &str,
        serial: &str,
    ) -> StoreResult<Option<Certificate>> {
        sqlx::query(
            "SELECT id, pem, status, ca_id, subject, serial, not_after, created_at
             FROM certificates WHERE subject = $1 AND serial = $2",
        )
        .bind(subject)
        .bind(serial)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(cert_from_row)
        .transpose()
    }

    async fn list_certificates(&self, page: &PageRequest) -> StoreResult<Page<Certificate>> {
        let rows = match &page.next_token {
            None => {
                sqlx::query(
                    "SELECT id, pem, status, ca_id, subject, serial, not_after, created_at
                     FROM certificates
                     ORDER BY created_at DESC, id DESC LIMIT $1",
                )
                .bind(fetch_limit(page))
                .fetch_all(&self.reader)
                .await
            }
            Some(t) => {
                let parts = token::decode(t, "certificates", 2)?;
                let created_at = token::int(&parts[0])?;
                sqlx::query(
                    "SELECT id, pem, status, ca_id, subject, serial, not_after, created_at
                     FROM certificates
                     WHERE created_at < $1 OR (created_at = $1 AND id < $2)
                     ORDER BY created_at DESC, id DESC LIMIT $3",
                )
                .bind(created_at)
                .bind(&parts[1])
                .bind(fetch_limit(page))
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(db)?;
        let items = rows
            .iter()
            .map(cert_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |c| {
            token::encode("certificates", &[&c.created_at.to_string(), &c.id])
        }))
    }

    async fn set_certificate_status(&self, id: &str, status: CertStatus) -> StoreResult<()> {
        let n = sqlx::query("UPDATE certificates SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(not_found("certificate", id));
        }
        Ok(())
    }

    async fn attach_thing_principal(&self, thing: &str, cert_id: &str) -> StoreResult<()> {
        self.link((Link::THING, thing), (Link::CERT, cert_id), "INSERT INTO thing_principals (thing_name, cert_id) VALUES ($1, $2) ON CONFLICT DO NOTHING").await
    }

    async fn detach_thing_principal(&self, thing: &str, cert_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM thing_principals WHERE thing_name = $1 AND cert_id = $2")
            .bind(thing)
            .bind(cert_id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn thing_principals(&self, thing: &str) -> StoreResult<Vec<String>> {
        if self.get_thing(thing).await?.is_none() {
            return Err(not_found("thing", thing));
        }
        let rows = sqlx::query(
            "SELECT cert_id FROM thing_principals WHERE thing_name = $1 ORDER BY cert_id",
        )
        .bind(thing)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        names(&rows, "cert_id")
    }

    async fn principal_things(&self, cert_id: &str) -> StoreResult<Vec<String>> {
        if self.get_certificate(cert_id).await?.is_none() {
            return Err(not_found("certificate", cert_id));
        }
        let rows = sqlx::query(
            "SELECT thing_name FROM thing_principals WHERE cert_id = $1 ORDER BY thing_name",
        )
        .bind(cert_id)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        names(&rows, "thing_name")
    }
}
