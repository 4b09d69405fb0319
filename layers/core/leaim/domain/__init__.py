"""Pure decision logic: no AWS, Modal, SQL or telemetry imports."""
