"""The state service's queries and writes: functions of a SQLAlchemy session and plain values.

Every function here runs inside one transaction that :class:`~services.state.db.engine.Database`
opens and commits; none of them opens connections or talks gRPC.
"""
