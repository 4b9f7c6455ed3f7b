/**
 * The typed form for some of the notebook's parameters: one text field per parameter,
 * filled with its default, checked by the server as the user types.
 */
import React from 'react';

import { defaultText } from '../parameterText';
import { NotebookSession } from '../session';

export interface IParameterFormProps {
  session: NotebookSession;
  /** The parameters to show, in this order. */
  names: readonly string[];
}

export function ParameterForm(props: IParameterFormProps): React.ReactElement | null {
  const { session, names } = props;
  const params = names.flatMap(name => {
    const param = session.parameter(name);
    return param ? [param] : [];
  });
  if (params.length === 0) {
    return null;
  }
  return (
    <div className="jp-mlops-params">
      {params.map(param => {
        const text = session.valueText(param.name);
        const error = session.valueError(param.name);
        const changed = text !== defaultText(param);
        const id = `jp-mlops-param-${session.panel.id}-${param.name}`;
        return (
          <div
            key={param.name}
            className={`jp-mlops-param${changed ? ' jp-mod-changed' : ''}${error ? ' jp-mod-error' : ''}`}
          >
            <label className="jp-mlops-param-label" htmlFor={id} title={param.help || undefined}>
              <span className="jp-mlops-param-name">{param.name}</span>
              <span className="jp-mlops-param-type">{param.type}</span>
              {param.help ? <span className="jp-mlops-param-help">{param.help}</span> : null}
            </label>
            <div className="jp-mlops-param-field">
              <input
                id={id}
                className="jp-mlops-param-input jp-mod-styled"
                data-testid="mlops-param-input"
                data-param={param.name}
                type="text"
                spellCheck={false}
                value={text}
                aria-invalid={error !== null}
                onChange={event => session.setValue(param.name, event.target.value)}
              />
              {changed ? (
                <button
                  type="button"
                  className="jp-mlops-param-reset"
                  title={`Back to the default, ${defaultText(param)}`}
                  onClick={() => session.setValue(param.name, defaultText(param))}
                >
                  ↺
                </button>
              ) : null}
            </div>
            {error ? (
              <div
                className="jp-mlops-param-error"
                data-testid="mlops-param-error"
                data-param={param.name}
              >
                {error}
              </div>
            ) : null}
          </div>
        );
      })}
    </div>
  );
}
