"""Who may do what: principals, ACLs compiled from the catalog, and their verification."""
