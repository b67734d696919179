CREATE OR REPLACE VIEW layers.units AS
SELECT id, code, name, category, small_place_type, key_domain, key_unit_type, colour_code,
       address, grid_id, responsible_person, responsible_phone, geom
FROM firetwin.unit;
