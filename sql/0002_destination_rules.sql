-- Numbering rules of each switch's dialled numbers. default_region is the region that a number
-- in national form belongs to (ISO 3166-1 alpha-2, as phonenumbers supports it). strip_prefixes
-- are the routing prefixes that the switch puts in front of some numbers, stripped before parsing.
ALTER TABLE vos_instances
    ADD COLUMN IF NOT EXISTS default_region text NOT NULL DEFAULT 'CN'
        CHECK (default_region ~ '^[A-Z]{2}$');
ALTER TABLE vos_instances
    ADD COLUMN IF NOT EXISTS strip_prefixes text[] NOT NULL DEFAULT '{}';
