"""The store's Alembic migrations, shipped with the package and run by ``core.schema``.

A change to ``core/models.py`` needs a revision in ``versions/``. To draft one, bring a
scratch store to the latest revision and let Alembic compare it with the models::

    webhooks db upgrade            # with DATABASE_URL pointing at the scratch store
    python -c 'from alembic import command; from core.schema import alembic_config;
    command.revision(alembic_config("sqlite:///scratch.db"), "what it changes", autogenerate=True)'

then read the draft and fix what autogenerate cannot know (renames, data to carry over).
"""
