"""What every tier shares: configuration (eucalyptus.conf), the cloud's keys and
the TLS links between tiers (trust, pblink, interfaces, links, records), the
process runner, the database and its accounts, request signing, and atomic
files."""
