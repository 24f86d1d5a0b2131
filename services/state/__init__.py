"""The state service: Tradewind's system of record and the only owner of the database."""
