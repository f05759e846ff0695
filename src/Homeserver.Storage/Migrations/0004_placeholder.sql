-- 0004: placeholder so that this branch builds with 0005; dropped when the branches are merged.
SELECT 1;
